"""What every router shares: sessions, authentication, problems, pagination."""
