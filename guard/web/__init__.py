"""The web ring: the JSON API and the console, two sets of thin views over one shared layer (context, errors,
body parsing, auth); `factory.create_app` assembles them."""
