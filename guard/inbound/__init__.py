"""Vendor webhooks to Guard events: one pure module per vendor kind, standard library only.

Each module has `verify(headers, raw_body, secret, now)`, raising InvalidSignature, and
`to_events(headers, raw_body, customer_field=None, now=None) -> Mapped`. Schemes that sign the request line
(HubSpot v3) read the method and full URL from the pseudo-headers `:method` and `:url`, which the receiving
endpoint adds to the headers it passes.

Imports nothing from guard outside this package (a test checks it): guard.sources feeds it raw requests.
"""

from __future__ import annotations

from types import ModuleType

from guard.inbound import checkout_com, hubspot, intercom, razorpay, shopify, stripe, woocommerce, zammad, zendesk
from guard.inbound.common import Mapped
from guard.inbound.errors import InboundError, InvalidSignature, MalformedPayload

KINDS: dict[str, ModuleType] = {
    "shopify": shopify,
    "stripe": stripe,
    "zendesk": zendesk,
    "woocommerce": woocommerce,
    "razorpay": razorpay,
    "zammad": zammad,
    "hubspot": hubspot,
    "intercom": intercom,
    "checkout_com": checkout_com,
}

__all__ = ["KINDS", "InboundError", "InvalidSignature", "MalformedPayload", "Mapped"]
