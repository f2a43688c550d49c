"""Contact relations: which staff member has which customer as a WeCom contact, since when."""
