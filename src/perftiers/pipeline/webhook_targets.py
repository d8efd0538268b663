"""Where a webhook may be sent: http(s) URLs whose host resolves only to public addresses.

Checked when a subscription is saved and again before every delivery, and the delivery connects
to the very address that passed the check (`Target.pinned`), so a name that resolves to a public
address at the check and to 127.0.0.1 at the send (DNS rebinding) cannot reach inside.
`webhooks_allow_private_targets` lifts the address rule (a receiver on the same host or network).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable

import httpx

from perftiers.errors import BadRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack instance metadata
    "169.254.170.2",  # AWS ECS task metadata
    "fd00:ec2::254",  # AWS instance metadata over IPv6
    "100.100.100.200",  # Alibaba Cloud metadata
    "192.0.0.192",  # Oracle Cloud metadata
))
MAX_URL_LENGTH = 2048


class TargetRefused(BadRequest):
    """The URL is not one perftiers sends webhooks to (the message says why)."""

    code = "webhook_target_refused"


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    address: str
    """The checked address the delivery connects to."""

    def pinned(self) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
        """URL with the checked address as host, the Host header, and the TLS server name."""
        host_header = self.url.netloc.decode("ascii")
        extensions = {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}
        return self.url.copy_with(host=self.address), {"Host": host_header}, extensions


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"the webhook host {host!r} does not resolve ({exc})", details={"host": host}) from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def is_private(address: Address) -> bool:
    """Loopback, private, link-local, shared, reserved, multicast or a cloud metadata address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address in METADATA_ADDRESSES or not address.is_global or address.is_multicast


def parse(url: str) -> httpx.URL:
    """The URL if its form is acceptable (scheme, host, no credentials), else TargetRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the webhook URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise TargetRefused("webhook URLs must start with http:// or https://",
                            details={"scheme": parsed.scheme})
    if not parsed.host:
        raise TargetRefused("the webhook URL has no host")
    if parsed.userinfo:
        raise TargetRefused("put no user name or password in the webhook URL; the payload is signed instead")
    return parsed


def check(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> Target:
    """The target to send to, or TargetRefused. Every address the host resolves to must be public
    (unless `allow_private`): one private answer is enough to refuse."""
    parsed = parse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(parsed.host)]
    except ValueError:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(parsed.host, port)]
    if not addresses:
        raise TargetRefused(f"the webhook host {parsed.host!r} has no address", details={"host": parsed.host})
    if not allow_private:
        bad = [str(a) for a in addresses if is_private(a)]
        if bad:
            raise TargetRefused(
                f"the webhook host {parsed.host!r} resolves to a loopback, private, link-local or cloud-metadata "
                f"address ({', '.join(bad)}); set webhooks_allow_private_targets = true to allow such targets",
                details={"host": parsed.host, "addresses": bad})
    return Target(parsed, str(addresses[0]))


def describe(url: str) -> str:
    """Scheme and host only, for logs and messages: a Slack webhook's path is its secret."""
    try:
        parsed = httpx.URL(url)
        return f"{parsed.scheme}://{parsed.host}"
    except Exception:
        return "(invalid URL)"
