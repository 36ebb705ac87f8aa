"""The web edge: handlers by concept (health, users, models, oip, trending, operator_page),
each a plain function of the ``HttpContext``; ``routes`` lists them, ``errors`` gives domain
errors their HTTP status, ``guard`` refuses malformed requests."""
