"""User accounts, passwords, lock-out and sign-in sessions."""
