"""Registry verbs: pull and push, with docker's progress display (fmt.Display); login and logout with
docker's prompts and messages (corral.api.logins keeps the credentials)."""
from __future__ import annotations

import sys

from corral.api import Host
from corral.cli.fmt import Display


def pull(o: dict, args: list[str]) -> int:
    from corral.image.reference import parse

    show = (lambda msg: None) if o["quiet"] else Display()
    images = Host().pull(args[0], platform=o["platform"], all_tags=o["all_tags"], progress=show)
    if args[0].startswith("oci:"):  # an image layout: the name the image took here, or its ID
        from corral.registry.layout import local_name, split

        name = local_name(split(args[0])[1])
        for img in images:
            print(name if name in img.tags else img.tags[0] if img.tags and not name else img.id)
        return 0
    ref = parse(args[0])
    if o["quiet"]:
        print(ref.familiar if not o["all_tags"] else ref.repository)
    else:
        print(_full_name(ref) if not o["all_tags"] else ref.repository)
    return 0 if images or o["all_tags"] else 1


def push(o: dict, args: list[str]) -> int:
    show = (lambda msg: None) if o["quiet"] else Display()
    pushed = Host().push(args[0], args[1] if len(args) > 1 else None, all_tags=o["all_tags"], progress=show,
                         format=o["format"] or "oci")
    if o["quiet"]:
        for tag, digest in pushed:
            print(f"{tag}: digest: {digest}")
    return 0


def _full_name(ref) -> str:  # noqa: ANN001 - a Reference
    """The name docker prints last: with the registry host when one was given."""
    base = f"{ref.domain}/{ref.path}" if ref.domain else ref.repository
    return base + (f"@{ref.digest}" if ref.digest and not ref.tag else f":{ref.tag or 'latest'}")


UNENCRYPTED = ("WARNING! Your credentials are stored unencrypted in '{}'.\n"
               "Configure a credential helper to remove this warning. See\n"
               "https://docs.docker.com/go/credential-store/\n")


def login(o: dict, args: list[str]) -> int:
    """docker login: -u/-p, --password-stdin, or the stored credentials, or a prompt on a terminal."""
    from corral.api import logins
    from corral.cli.parser import UsageError
    from corral.errors import CorralError
    from corral.registry.credentials import Credentials

    server = args[0] if args else None
    username, password = o["username"] or "", o["password"] or ""
    if o["password"] is not None and o["password_stdin"]:
        raise UsageError("conflicting options: cannot specify both --password and --password-stdin", 1)
    if o["password"] is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    if o["password_stdin"]:
        if not username:
            raise UsageError("the --password-stdin option requires --username to be set", 1)
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if not username and not password:
        kept = logins.stored(server)
        if kept is not None:
            print(f"Authenticating with existing credentials... [Username: {kept.username or '<token>'}]",
                  file=sys.stderr)
            try:
                logins.login(server, kept)
                print(logins.LOGIN_SUCCEEDED)
                return 0
            except CorralError as e:
                print(f"Login did not succeed, error: {e}", file=sys.stderr)
                username = kept.username
    if not password:
        username, password = _prompt(username)
    _, where = logins.login(server, Credentials(username, password))
    if not where.startswith("docker-credential-"):
        print(UNENCRYPTED.format(where), file=sys.stderr)
    print(logins.LOGIN_SUCCEEDED)
    return 0


def _prompt(username: str) -> tuple[str, str]:
    """Username (when not given) and password asked on the terminal, as docker asks them."""
    import getpass
    import os

    from corral.errors import InvalidArgument

    if not os.isatty(0):
        raise InvalidArgument("Cannot perform an interactive login from a non TTY device")
    if not username:
        username = input("Username: ").strip()
        if not username:
            raise InvalidArgument("Non-null Username Required")
    password = getpass.getpass("Password: ")
    if not password:
        raise InvalidArgument("Password Required")
    return username, password


def logout(o: dict, args: list[str]) -> int:
    from corral.api import logins

    server = logins.server_key(args[0] if args else None)
    if logins.logout(server):
        print(f"Removing login credentials for {server}")
    else:
        print(f"Not logged in to {server}")
    return 0
