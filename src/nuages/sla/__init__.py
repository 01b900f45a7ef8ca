"""Service levels: the client's failure notices (002 §6 "Notification de Défaillance")."""
