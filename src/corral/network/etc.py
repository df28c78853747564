"""A networked container's /etc/hosts and /etc/resolv.conf.

Both are files of the bundle bind-mounted into the container (spec.py).
/etc/hosts is the container's own part (`hosts.base`: localhost, its
addresses under its host name, --add-host) plus, on user-created switches,
one line per running peer with its name, aliases and short ID: that is how
containers resolve each other by name. Peers' files are rewritten in place
(the bind mount pins the inode) whenever a container joins or leaves.
"""
from __future__ import annotations

import os

LOCALHOST = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
FALLBACK_DNS = ["8.8.8.8", "8.8.4.4"]  # Docker's, when the host only has loopback resolvers


def parse_add_host(text: str) -> tuple[str, str]:
    from corral.errors import InvalidArgument

    name, sep, ip = text.partition(":")
    if not sep:
        name, sep, ip = text.partition("=")
    if not sep or not name or not ip:
        raise InvalidArgument(f"invalid --add-host {text!r}: use NAME:IP")
    if ip == "host-gateway":
        return name, ip
    import ipaddress

    try:
        ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        raise InvalidArgument(f"invalid --add-host {text!r}: {ip!r} is not an IP address") from None
    return name, ip.strip("[]")


def hosts_base(hostname: str, addresses: list[str], add_hosts: list[tuple[str, str]], host_mode: bool = False) -> str:
    if host_mode:
        try:
            with open("/etc/hosts") as f:
                text = f.read()
        except OSError:
            text = LOCALHOST
        if text and not text.endswith("\n"):
            text += "\n"
    else:
        text = LOCALHOST
        short = hostname.split(".", 1)[0]
        names = hostname if short == hostname else f"{hostname} {short}"
        for ip in addresses or ["127.0.1.1"]:
            text += f"{ip}\t{names}\n"
    for name, ip in add_hosts:
        text += f"{ip}\t{name}\n"
    return text


def peers_section(peers: list[tuple[str, list[str]]]) -> str:
    """(ip, names) of the other containers on the user-created switches a container is on."""
    if not peers:
        return ""
    return "# containers on the same switch (corral)\n" + "".join(f"{ip}\t{' '.join(n)}\n" for ip, n in peers)


def resolv_conf(dns: list[str], search: list[str], options: list[str], host_mode: bool) -> str:
    host_servers, host_search, host_options = [], [], []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                words = line.split()
                if not words or words[0].startswith(("#", ";")):
                    continue
                if words[0] == "nameserver" and len(words) > 1:
                    host_servers.append(words[1])
                elif words[0] in ("search", "domain"):
                    host_search = words[1:]
                elif words[0] == "options":
                    host_options += words[1:]
    except OSError:
        pass
    if not host_mode:
        host_servers = [s for s in host_servers if not s.startswith("127.") and s != "::1"] or FALLBACK_DNS
    servers = dns or host_servers
    lines = [f"nameserver {s}" for s in servers]
    if search or host_search:
        lines.append("search " + " ".join(search or host_search))
    if options or host_options:
        lines.append("options " + " ".join(options or host_options))
    return "\n".join(lines) + "\n" if lines else ""


def rewrite_in_place(path: str, text: str) -> None:
    """Replace a bind-mounted file's content without replacing its inode: write, then truncate
    (a reader sees the old or the new lines, never an empty file)."""
    data = text.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
