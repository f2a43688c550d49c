"""Customer groups (客户群) synced from WeCom, with their members."""
