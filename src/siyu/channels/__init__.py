"""Messaging channels siyu talks to: WeCom first (``siyu.channels.wecom``)."""
