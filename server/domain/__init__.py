"""Domain services: the rules of witnesslink, with no aiohttp and no SQL."""
