"""WeCom (企业微信) channel: API client, callback crypto and events, and a fake server.

Facts come from ``shared/WECOM_SPEC.md``; see ``docs/wecom.md`` for usage.
"""
