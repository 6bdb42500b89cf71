"""Who is who: projects, agents and their names, windows, registration tokens, and retiring or erasing them."""
