"""Staff changes: resignation (离职继承) and in-service (在职继承) transfers."""
