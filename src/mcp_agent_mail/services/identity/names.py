"""Agent names: memorable Adjective+Noun identities and explicit ids."""

from __future__ import annotations

import re
import secrets

ADJECTIVES: tuple[str, ...] = (
    "Amber",
    "Azure",
    "Black",
    "Blue",
    "Bold",
    "Bright",
    "Bronze",
    "Brown",
    "Calm",
    "Cloudy",
    "Cobalt",
    "Copper",
    "Coral",
    "Crimson",
    "Cyan",
    "Dark",
    "Dusty",
    "Emerald",
    "Foggy",
    "Frosty",
    "Fuchsia",
    "Gentle",
    "Gold",
    "Gray",
    "Green",
    "Hazy",
    "Indigo",
    "Ivory",
    "Jade",
    "Lavender",
    "Lilac",
    "Magenta",
    "Maroon",
    "Misty",
    "Navy",
    "Olive",
    "Orange",
    "Pearl",
    "Pink",
    "Purple",
    "Quiet",
    "Rainy",
    "Red",
    "Rose",
    "Ruby",
    "Rustic",
    "Sage",
    "Sapphire",
    "Scarlet",
    "Silent",
    "Silver",
    "Stormy",
    "Sunny",
    "Swift",
    "Teal",
    "Topaz",
    "Turquoise",
    "Violet",
    "White",
    "Wild",
    "Windy",
    "Chartreuse",
)

NOUNS: tuple[str, ...] = (
    "Anchor",
    "Badger",
    "Barn",
    "Basin",
    "Bay",
    "Beacon",
    "Bear",
    "Beaver",
    "Bridge",
    "Brook",
    "Canyon",
    "Castle",
    "Cat",
    "Cave",
    "Cliff",
    "Compass",
    "Cove",
    "Crane",
    "Creek",
    "Deer",
    "Desert",
    "Dog",
    "Dune",
    "Eagle",
    "Elk",
    "Falcon",
    "Finch",
    "Forest",
    "Forge",
    "Fox",
    "Gate",
    "Glacier",
    "Glen",
    "Gorge",
    "Grove",
    "Harbor",
    "Hawk",
    "Heron",
    "Hill",
    "Hollow",
    "Island",
    "Lake",
    "Lantern",
    "Lynx",
    "Marsh",
    "Meadow",
    "Mill",
    "Moose",
    "Mountain",
    "Otter",
    "Owl",
    "Peak",
    "Pond",
    "Prairie",
    "Puma",
    "Raven",
    "Reef",
    "Ridge",
    "River",
    "Robin",
    "Snow",
    "Sparrow",
    "Spring",
    "Stone",
    "Stream",
    "Tower",
    "Valley",
    "Waterfall",
    "Wolf",
)

_ADJ_BY_KEY = {a.lower(): a for a in ADJECTIVES}
_NOUN_BY_KEY = {n.lower(): n for n in NOUNS}
_EXPLICIT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PLACEHOLDERS = ("YOUR_AGENT", "YOUR_AGENT_NAME", "AGENT_NAME", "PLACEHOLDER", "<AGENT>", "{AGENT}", "$AGENT")


def generate_name() -> str:
    """Return a random Adjective+Noun name such as ``GreenCastle``."""
    return secrets.choice(ADJECTIVES) + secrets.choice(NOUNS)


def canonical_adjective_noun(name: str) -> str | None:
    """Return the PascalCase form if ``name`` is an Adjective+Noun (any case), else None."""
    key = name.strip().lower()
    for split in range(1, len(key)):
        adjective, noun = key[:split], key[split:]
        if adjective in _ADJ_BY_KEY and noun in _NOUN_BY_KEY:
            return _ADJ_BY_KEY[adjective] + _NOUN_BY_KEY[noun]
    return None


def is_explicit_id(name: str) -> bool:
    """Tell whether ``name`` is an explicit id like ``worker-42`` (must contain ``-``, ``_`` or ``.``)."""
    return bool(_EXPLICIT_ID.match(name)) and any(ch in name for ch in "-_.")


def normalise_agent_name(name: str) -> str | None:
    """Return the stored form of a valid agent name, or None when it is not valid."""
    cleaned = name.strip()
    canonical = canonical_adjective_noun("".join(ch for ch in cleaned if ch.isalnum()))
    if canonical:
        return canonical
    if is_explicit_id(cleaned):
        return cleaned
    return None


def name_key(name: str) -> str:
    """Return the case-insensitive lookup key of a name (``Blue-Lake`` and `` bluelake`` both give ``bluelake``)."""
    return (normalise_agent_name(name) or name.strip()).lower()


def looks_like_placeholder(value: str) -> bool:
    """Tell whether a name is a template placeholder such as ``YOUR_AGENT``."""
    upper = value.upper()
    return any(p in upper for p in _PLACEHOLDERS)
