"""The follow-up queue: unhappy answers an owner should get back to, and their digest email."""
