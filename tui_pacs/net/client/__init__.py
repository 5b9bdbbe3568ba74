"""The client side: associations we request, and the services we use on them."""
