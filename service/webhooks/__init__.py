"""Webhooks after the Standard Webhooks spec: endpoints, signing, the SSRF guard, retries
and the dispatcher that delivers the outbox (``service.outbox``) at least once.
"""
