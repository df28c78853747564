"""The Client: docker-py's DockerClient over the engine, in-process (no daemon, no HTTP).

    import corral
    client = corral.from_env()
    client.containers.run("busybox", "echo hello world")

`client.api` is the engine's Host, the lower layer (docker-py's APIClient role):
what the CLI drives, with fds, signals and the store itself.
"""
from __future__ import annotations

import os

from corral.api.models import check_type
from corral.api.system import API_VERSION  # one version: the models' shapes, `version`, and corral serve's

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.api.models.containers import ContainerCollection
    from corral.api.models.images import ImageCollection
    from corral.api.models.networks import NetworkCollection
    from corral.api.models.pods import PodCollection
    from corral.api.models.volumes import VolumeCollection


class Client:
    """One store's engine, in this process. root: the store (default CORRAL_ROOT, else /var/lib/corral)."""

    def __init__(self, root: str | None = None) -> None:
        from corral.api.host import Host

        check_type("Client", "root", root, str)
        self.api = Host(root)
        self._collections: dict[str, object] = {}
        self._logins: dict[str, dict] = {}  # registry key -> auth_config, of login() (docker-py keeps them too)
        self._dockercfg_path: str | None = None

    def __repr__(self) -> str:
        return f"<corral.Client {self.api.store.root}>"

    @classmethod
    def from_env(cls, version: str | None = None, timeout: int | None = None, max_pool_size: int | None = None,
                 environment: dict | None = None, use_ssh_client: bool = False) -> Client:
        """A client of the store CORRAL_ROOT names (in `environment` when given, else os.environ).

        version, timeout, max_pool_size and use_ssh_client tune docker-py's HTTP connection to a
        daemon; the in-process engine has no connection, so they change nothing, and are taken so
        that a docker-py script runs unchanged."""
        check_type("from_env", "environment", environment, dict)
        root = (os.environ if environment is None else environment).get("CORRAL_ROOT")
        return cls(root or None)

    def _collection(self, name: str, make: type) -> object:
        found = self._collections.get(name)
        if found is None:
            found = self._collections[name] = make(self)
        return found

    @property
    def containers(self) -> ContainerCollection:
        from corral.api.models.containers import ContainerCollection

        return self._collection("containers", ContainerCollection)  # type: ignore[return-value]

    @property
    def images(self) -> ImageCollection:
        from corral.api.models.images import ImageCollection

        return self._collection("images", ImageCollection)  # type: ignore[return-value]

    @property
    def networks(self) -> NetworkCollection:
        from corral.api.models.networks import NetworkCollection

        return self._collection("networks", NetworkCollection)  # type: ignore[return-value]

    @property
    def volumes(self) -> VolumeCollection:
        from corral.api.models.volumes import VolumeCollection

        return self._collection("volumes", VolumeCollection)  # type: ignore[return-value]

    @property
    def pods(self) -> PodCollection:
        """Pods (podman-py's shape, api/pod.py): containers sharing one network, IPC and host name."""
        from corral.api.models.pods import PodCollection

        return self._collection("pods", PodCollection)  # type: ignore[return-value]

    @property
    def api_version(self) -> str:
        """The Engine API version whose shapes the models follow, the one `corral serve` speaks."""
        return API_VERSION

    def ping(self) -> bool:
        """True when the store can be read (docker-py: the daemon answered); its error otherwise."""
        self.api.containers()  # one query of the store (made on first use, as every command does)
        return True

    def version(self, api_version: bool = True) -> dict:
        """docker's version answer: Version, ApiVersion, Os, Arch, KernelVersion, Components."""
        return self.api.version()

    def info(self) -> dict:
        """docker's info answer: containers running/paused/stopped, images, drivers, kernel, CPUs..."""
        return self.api.info()

    def df(self) -> dict:
        """docker's system df answer (GET /system/df): LayersSize, and Images, Containers, Volumes and
        BuildCache as lists of summaries."""
        usage = self.api.df(verbose=True)
        images = [{"Id": r["Image"].id, "ParentId": "", "RepoTags": r["Image"].tags, "RepoDigests": [],
                   "Created": int(_seconds(r["Image"].created)), "Size": r["Size"], "SharedSize": r["SharedSize"],
                   "Labels": (r["Image"].config.get("config") or {}).get("Labels") or {},
                   "Containers": r["Containers"]} for r in usage["ImageRows"]]
        containers = [{"Id": r["Container"].id, "Names": ["/" + r["Container"].name],
                       "Image": r["Container"].image_ref, "ImageID": r["Container"].image_id,
                       "Command": " ".join(r["Container"].command), "Created": int(_seconds(r["Container"].created)),
                       "State": r["Container"].status, "SizeRw": r["Size"], "Labels": r["Container"].options.labels}
                      for r in usage["ContainerRows"]]
        cache = [{"ID": r["ID"], "Type": "regular", "Size": r["Size"], "CreatedAt": r["Created"],
                  "LastUsedAt": r["Created"], "UsageCount": 1, "InUse": r["InUse"], "Shared": False}
                 for r in usage["CacheRows"]]
        volumes = [dict(r["Volume"].inspect(), UsageData={"RefCount": r["Links"], "Size": r["Size"]})
                   for r in usage["VolumeRows"]]
        return {"LayersSize": usage["Images"]["Size"], "Images": images, "Containers": containers, "Volumes": volumes,
                "BuildCache": cache}

    def events(self, since: object = None, until: object = None, filters: dict | None = None,
               decode: bool | None = None) -> EventStream:
        """docker-py's events(): the store's events from `since` (a datetime, Unix seconds, or docker's
        text forms: RFC 3339, "10m") up to `until`, then new ones as any corral process records them,
        until `until` passes or the stream is closed; neither bound: only new ones. Each is docker's
        event JSON as bytes (a line), or a dict with decode=True. filters as docker's
        ({"type": "container", "event": ["start", "die"], "label": ["k=v"]}). Bad arguments raise here,
        before the first event."""
        from corral.api import events

        check_type("events", "filters", filters, dict)
        wanted = events.check_filters(filters or {})
        events.window(since, until)  # a bad bound is an error now, not at the first next()
        return EventStream(self.api.store, since, until, wanted, bool(decode))

    def login(self, username: str, password: str | None = None, email: str | None = None,
              registry: str | None = None, reauth: bool = False, dockercfg_path: str | None = None) -> dict:
        """docker-py's login: the credentials checked against `registry` (default: the Hub) and remembered
        by this client for its later pulls and pushes there; docker's answer {"Status": "Login Succeeded",
        "IdentityToken": ...}. As docker-py, nothing is written to config.json (`corral login` does that),
        and when the config (dockercfg_path, else DOCKER_CONFIG's) or an earlier login already has
        credentials of this username, they are returned as docker-py's authconfig dict unless reauth.
        email is taken and ignored, as the engine ignores it."""
        from corral.api import logins
        from corral.registry import credentials

        for arg, value in (("username", username), ("password", password), ("email", email),
                           ("registry", registry), ("dockercfg_path", dockercfg_path)):
            check_type("login", arg, value, str)
        key = logins.server_key(registry)
        if dockercfg_path is not None:
            self._dockercfg_path = dockercfg_path
        known = self._logins.get(key)
        if known is None:
            kept = credentials.get(key, self._dockercfg_path)
            known = kept.auth_config(key) if kept is not None else None
        if known and known.get("username") == username and not reauth:
            return known
        auth_config = {"username": username, "password": password or "", "serveraddress": key}
        answer = logins.check(auth_config)
        if answer["IdentityToken"]:
            auth_config = {"username": username, "identitytoken": answer["IdentityToken"], "serveraddress": key}
        self._logins[key] = auth_config
        return answer

    def _auth_config(self, name: str, auth_config: dict | None) -> dict | None:
        """What a pull or push of `name` authenticates with: the call's auth_config (checked now, so a bad
        one fails before any transfer), else this client's login to the image's registry, else the
        dockercfg_path a login named; None: the credentials of DOCKER_CONFIG's config.json."""
        from corral.api import logins
        from corral.image.reference import parse
        from corral.registry import conf, credentials

        if auth_config is not None:
            credentials.from_auth_config(auth_config)
            return auth_config
        if (not self._logins and self._dockercfg_path is None) or name.startswith("oci:"):
            return None  # (an OCI layout is files: no registry to log in to)
        registry = conf.candidates(parse(name))[0][0]
        found = self._logins.get(logins.server_key(registry))
        if found is None and self._dockercfg_path is not None:
            kept = credentials.get(registry, self._dockercfg_path)
            found = kept.auth_config(registry) if kept is not None else None
        return found

    def close(self) -> None:
        """Let go of the store's database connection (reopened when used again)."""
        self.api.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DockerClient = Client


class EventStream:
    """What Client.events() returns, as docker-py's CancellableStream: iterate for events; close() ends
    the iteration (from another thread too: within one poll of the journal)."""

    def __init__(self, store: object, since: object, until: object, filters: dict, decode: bool) -> None:
        from corral.api import events

        self._closed = False
        self._events = events.stream(store, since, until, filters, lambda: self._closed)  # type: ignore[arg-type]
        self._decode = decode

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> dict | bytes:
        if self._closed:
            raise StopIteration
        msg = next(self._events)
        if self._decode:
            return msg
        from corral import fastjson as json

        return json.dumps(msg).encode() + b"\n"

    next = __next__

    def close(self) -> None:
        self._closed = True
        try:
            self._events.close()
        except ValueError:  # being iterated in another thread: it sees _closed at its next poll
            pass


def from_env(**kwargs: object) -> Client:
    """docker.from_env(): a Client of the store CORRAL_ROOT names (default /var/lib/corral)."""
    return Client.from_env(**kwargs)  # type: ignore[arg-type]


def _seconds(rfc3339: str) -> float:
    from corral.timestamps import parse

    return parse(rfc3339)
