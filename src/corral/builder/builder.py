"""Running a Dockerfile: stages, steps, the build cache, secrets, reproducible output.

Each filesystem step (RUN, COPY, ADD) becomes one layer; every other step
changes only the image config. A filesystem step's result is an image kept
in the build cache under a key chained from its parent's key, the step's
text, the build args in scope and, for COPY/ADD, the content of what is
copied: change one file and that step and the ones after it run again.
Secrets are bind-mounted read-only for one RUN and enter no layer, config,
history or cache key. With SOURCE_DATE_EPOCH set, every time written
(configs, history, file times in layers) is that instant, so the same
context builds the same image, byte for byte.

The build is a generator of Docker-API-shaped events ({"stream": text},
{"aux": {"ID": image id}}), which the CLI prints and `corral serve` can relay.
"""
from __future__ import annotations

import codecs
import hashlib
import os
import stat
import time

from corral import failpoints
from corral import fastjson as json
from corral.builder.instructions import key_values, parse_duration, secret_mount
from corral.builder.parser import heredoc_word, parse
from corral.builder.shellwords import expand, expand_words
from corral.errors import BuildError, CorralError, InvalidArgument
from corral.store import buildcache, images
from corral.store.rootfs import layer_diff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator

    from corral.builder.backend import Backend

DEFAULT_SHELL = ["/bin/sh", "-c"]
SECRET_LIKE = ("PASSWORD", "PASSWD", "TOKEN", "SECRET", "KEY", "CREDENTIAL")
FS_STEPS = ("RUN", "COPY", "ADD")


class _State:
    """A stage as built so far: its layers, its image config, its history, and its cache key."""

    def __init__(self, layers: list, config: dict, history: list, key: str, image_id: str | None) -> None:
        self.layers, self.config, self.history, self.key, self.image_id = layers, config, history, key, image_id
        self.args: dict[str, str] = {}  # ARGs declared in this stage, with their values
        self.globals: dict[str, str] = {}  # ARGs before the first FROM (a stage sees them once redeclared)
        self.cmd_set = False  # a CMD of this stage's own: an ENTRYPOINT after it keeps it
        self.author = ""  # MAINTAINER

    def carry(self, other: "_State") -> "_State":
        """This state (loaded from the cache) with the build-time context of `other` it replaces."""
        self.args, self.globals, self.cmd_set, self.author = other.args, other.globals, other.cmd_set, other.author
        return self

    def env(self) -> dict[str, str]:
        return dict(e.split("=", 1) if "=" in e else (e, "") for e in self.config.get("Env") or [])

    def scope(self) -> dict[str, str]:
        """What ${VAR} sees in an instruction: the stage's args, then its ENV over them."""
        return {**self.args, **self.env()}


class Build:
    def __init__(self, host: "Backend", context: str, *, dockerfile: str | None = None, tags: list[str] | None = None,
                 buildargs: dict[str, str] | None = None, target: str | None = None, nocache: bool = False,
                 secrets: dict[str, str] | None = None, labels: dict[str, str] | None = None,
                 network: str = "bridge", quiet: bool = False, pull: bool = False,
                 registry_auths: dict[str, dict] | None = None) -> None:
        from corral.image.reference import validate_tag

        self.host, self.store = host, host.store
        self.pull = "always" if pull else "missing"
        self.registry_auths = registry_auths  # credentials for pulling the bases, by registry
        self.context = os.path.abspath(context)
        if not os.path.isdir(self.context):
            raise InvalidArgument(f"unable to prepare context: path {context!r} not found")
        self.dockerfile_path = dockerfile if dockerfile and os.path.isabs(dockerfile) else \
            os.path.join(self.context, dockerfile or "Dockerfile")
        self.tags = [validate_tag(t) for t in tags or []]
        self.buildargs = dict(buildargs or {})
        self.target, self.nocache, self.labels, self.network, self.quiet = target, nocache, labels or {}, network, quiet
        self.secrets = dict(secrets or {})
        for sid, path in self.secrets.items():
            if not os.path.isfile(path):
                raise InvalidArgument(f"secret {sid}: {path} is not a file")
        epoch = self.buildargs.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
        if epoch is not None and not epoch.isdecimal():
            raise InvalidArgument(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, not {epoch!r}")
        self.epoch = int(epoch) if epoch is not None else None
        self.used_args: set[str] = set()

    # driving ---------------------------------------------------------------------------------------

    def run(self) -> Iterator[dict]:
        from corral.builder.ignore import Ignore

        try:
            with open(self.dockerfile_path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise InvalidArgument(f"cannot find the Dockerfile: {self.dockerfile_path}") from None
        name = os.path.basename(self.dockerfile_path)
        self.file = parse(text, name)
        self.escape = self.file.directives.get("escape", "\\")
        self.ignore = Ignore.from_file(os.path.join(self.context, ".dockerignore"))
        stages = self._stages_needed()
        self._check(stages)
        for key in sorted(self.buildargs):
            if any(word in key.upper() for word in SECRET_LIKE):
                yield {"stream": f"[Warning] build arg {key} looks like a secret: its value stays legible in the "
                                 "image history; pass it with --secret id=...,src=FILE and "
                                 "RUN --mount=type=secret,id=... instead\n"}
        total = sum(1 + len(s.instructions) for s in stages)
        self.step, self.total = 0, total
        built: dict[int, _State] = {}
        for stage in stages:
            state = yield from self._stage(stage, built)
            built[stage.index] = state
        final = built[stages[-1].index]
        image_id = self._final(final)
        unused = sorted(set(self.buildargs) - self.used_args - {"SOURCE_DATE_EPOCH"})
        if unused:
            yield {"stream": f"[Warning] One or more build-args {unused} were not consumed\n"}
        yield {"stream": f"Successfully built {image_id[7:19]}\n"}
        for tag in self.tags:
            yield {"stream": f"Successfully tagged {tag}\n"}
        yield {"aux": {"ID": image_id}}

    def _final(self, state: _State) -> str:
        """The built image, tagged. Kept in the cache under the whole build's key, so an unchanged
        rebuild names the very same image (its config holds times: made afresh, it would differ)."""
        key = _digest("final", state.key, json.dumps(sorted(self.labels.items())))
        image_id = None if self.nocache else self._cached(key)
        if image_id is None:
            image_id = self._register(state, [], labels=self.labels)
            buildcache.remember(self.store, key, image_id, self._created())
        images.tag(self.store, self.tags, image_id)
        return image_id

    def _stages_needed(self) -> list:
        stages = self.file.stages
        if self.target is not None:
            named = [s for s in stages if s.name == self.target.lower()]
            if not named:
                raise InvalidArgument(f"target stage {self.target!r} could not be found")
            last = named[0].index
        else:
            last = stages[-1].index
        needed = {last}
        for stage in reversed(stages[: last + 1]):
            if stage.index not in needed:
                continue
            for ref in [stage.base] + [i.flags.get("from", [None])[-1] for i in stage.instructions if i.cmd == "COPY"]:
                found = self._stage_ref(ref, stage.index)
                if found is not None:
                    needed.add(found.index)
        return [s for s in stages if s.index in needed]

    def _stage_ref(self, ref: str | None, before: int):  # noqa: ANN202 - Stage | None
        """The earlier stage `ref` names (by AS name or index), or None when it is an image."""
        if not ref:
            return None
        for s in self.file.stages[:before]:
            if s.name == ref.lower() or str(s.index) == ref:
                return s
        return None

    def _check(self, stages: list) -> None:
        """Everything that can be wrong before anything runs: bases, --from, variables."""
        from corral.image import repo

        globals_scope = self._global_args()
        for stage in stages:
            base = expand(stage.base, globals_scope, self.escape)
            if base != "scratch" and self._stage_ref(base, stage.index) is None:
                try:
                    # pulled here when missing (or always, with --pull)
                    self.host.image_for(base, self.pull, registry_auths=self.registry_auths)
                except CorralError as e:
                    raise InvalidArgument(f"{self.file.filename}:{stage.line}: base image {base!r}: {e}") from None
            for ins in stage.instructions:
                source = ins.flags.get("from", [None])[-1]
                if ins.cmd == "COPY" and source and self._stage_ref(source, stage.index) is None:
                    if any(s.name == source.lower() for s in self.file.stages):
                        raise InvalidArgument(f"{self.file.filename}:{ins.line}: COPY --from={source} names a "
                                              "later stage (or this one)")
                    try:
                        repo.resolve(self.store, source)
                    except CorralError:
                        raise InvalidArgument(f"{self.file.filename}:{ins.line}: COPY --from={source}: no such "
                                              "stage or image") from None
                if ins.cmd == "ADD" and any(w.startswith(("http://", "https://", "git@")) for w in ins.args):
                    raise InvalidArgument(f"{self.file.filename}:{ins.line}: ADD from a URL needs network access, "
                                          "which builds here do not have: download it into the context")
                for mount in ins.flags.get("mount", []):
                    fields = secret_mount(mount, {}, self.escape)
                    if fields["required"] and fields["id"] not in self.secrets:
                        raise InvalidArgument(f"{self.file.filename}:{ins.line}: secret {fields['id']!r} is "
                                              "required: pass --secret id=...,src=FILE")

    def _global_args(self) -> dict[str, str]:
        scope: dict[str, str] = {}
        for ins in self.file.global_args:
            for key, value in key_values(ins.args, "ARG"):
                if key in self.buildargs:
                    scope[key] = self.buildargs[key]
                    self.used_args.add(key)
                elif value is not None:
                    scope[key] = expand(value, scope, self.escape)
        return scope

    # one stage ------------------------------------------------------------------------------------

    def _stage(self, stage, built: dict[int, _State]):  # noqa: ANN001, ANN202 - generator returning _State
        from corral.image import repo

        globals_scope = self._global_args()
        base = expand(stage.base, globals_scope, self.escape)
        self.step += 1
        yield {"stream": f"Step {self.step}/{self.total} : FROM {stage.base}"
                         f"{' AS ' + stage.name if stage.name else ''}\n"}
        ref = self._stage_ref(base, stage.index)
        if base == "scratch":
            state = _State([], {}, [], _digest("FROM scratch"), None)
        elif ref is not None:
            prev = built[ref.index]
            state = _State(list(prev.layers), json.loads(json.dumps(prev.config)), list(prev.history), prev.key,
                           prev.image_id)
        else:
            image_id = repo.resolve(self.store, base)
            state = self._load(image_id, _digest("FROM " + image_id))
        state.globals = globals_scope
        if state.image_id:
            yield {"stream": f" ---> {state.image_id[7:19]}\n"}
        for ins in stage.instructions:
            self.step += 1
            yield {"stream": f"Step {self.step}/{self.total} : {ins.original}\n"}
            started = time.monotonic()
            if ins.cmd in FS_STEPS:
                state = yield from self._fs_step(state, ins, built)
                failpoints.hit("build.step")
                yield {"stream": f" ---> {state.image_id[7:19]} ({time.monotonic() - started:.2f}s)\n"}
            else:
                self._meta_step(state, ins)
        return state

    def _load(self, image_id: str, key: str) -> _State:
        from corral.image import repo
        from corral.image.layers import image_layers

        full = repo.config(self.store, image_id)
        return _State(image_layers(self.store, image_id), dict(full.get("config") or {}),
                      list(full.get("history") or []), key, image_id)

    # metadata steps -------------------------------------------------------------------------------

    def _meta_step(self, state: _State, ins) -> None:  # noqa: ANN001
        cfg, scope = state.config, state.scope()
        x = lambda word: expand(word, scope, self.escape)  # noqa: E731
        created_by = ins.original
        if ins.cmd == "ARG":
            for key, value in key_values(ins.args, "ARG"):
                if key in self.buildargs:
                    state.args[key] = self.buildargs[key]
                    self.used_args.add(key)
                elif value is not None:
                    state.args[key] = x(value)
                elif key in state.globals:
                    state.args[key] = state.globals[key]
                else:
                    state.args.setdefault(key, "")
        elif ins.cmd == "ENV":
            env = state.env()
            for key, value in key_values(ins.args, "ENV"):
                env[key] = expand(value, {**state.args, **env}, self.escape)
            cfg["Env"] = [f"{k}={v}" for k, v in env.items()]
            created_by = "ENV " + " ".join(f"{k}={v}" for k, v in env.items()
                                           if k in dict(key_values(ins.args, "ENV")))
        elif ins.cmd == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            for key, value in key_values(ins.args, "LABEL"):
                labels[x(key)] = x(value)
            cfg["Labels"] = labels
        elif ins.cmd in ("CMD", "ENTRYPOINT"):
            value = ins.args if ins.json else (cfg.get("Shell") or DEFAULT_SHELL) + [ins.args[0]]
            cfg["Cmd" if ins.cmd == "CMD" else "Entrypoint"] = value
            if ins.cmd == "ENTRYPOINT" and "Cmd" in cfg and not state.cmd_set:
                cfg["Cmd"] = None  # as Docker: an ENTRYPOINT drops an inherited CMD
            if ins.cmd == "CMD":
                state.cmd_set = True
        elif ins.cmd == "WORKDIR":
            path = x(ins.args[0])
            cfg["WorkingDir"] = os.path.normpath(os.path.join(cfg.get("WorkingDir") or "/", path))
        elif ins.cmd == "USER":
            cfg["User"] = x(ins.args[0])
        elif ins.cmd == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for word in expand_words(" ".join(ins.args), scope, self.escape):
                ports[word if "/" in word else word + "/tcp"] = {}
            cfg["ExposedPorts"] = ports
        elif ins.cmd == "VOLUME":
            words = ins.args if ins.json else [x(w) for w in ins.args]
            cfg["Volumes"] = dict(cfg.get("Volumes") or {}, **{w: {} for w in words})
        elif ins.cmd == "SHELL":
            cfg["Shell"] = ins.args
        elif ins.cmd == "STOPSIGNAL":
            cfg["StopSignal"] = x(ins.args[0])
        elif ins.cmd == "HEALTHCHECK":
            cfg["Healthcheck"] = _healthcheck(ins, cfg)
        elif ins.cmd == "MAINTAINER":
            state.author = " ".join(ins.args)
        elif ins.cmd == "ONBUILD":
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [ins.args[0]]
        state.history.append(self._history(created_by, empty=True))
        state.image_id = None  # the config changed: the next RUN needs this state registered
        state.key = _digest(state.key, ins.original, json.dumps(cfg, sort_keys=True))

    def _history(self, created_by: str, empty: bool) -> dict:
        entry = {"created": self._created(), "created_by": created_by, "comment": "buildkit.dockerfile.v0"}
        if empty:
            entry["empty_layer"] = True
        return entry

    def _created(self) -> str:
        from corral.timestamps import rfc3339

        return rfc3339(self.epoch)

    # filesystem steps -----------------------------------------------------------------------------

    def _fs_step(self, state: _State, ins, built: dict[int, _State]):  # noqa: ANN001, ANN202
        scope = state.scope()
        args_in_scope = {k: v for k, v in state.args.items()}
        if ins.cmd == "RUN":
            network = (ins.flags.get("network") or [self.network])[-1]  # a RUN's result may depend on it
            key = _digest(state.key, ins.original, network, *(h.content for h in ins.heredocs),
                          json.dumps(sorted(args_in_scope.items())),
                          json.dumps(sorted(secret_mount(m, scope, self.escape)["id"]
                                            for m in ins.flags.get("mount", []))))
        else:
            dest, sources = self._sources(state, ins, built)
            key = _digest(state.key, ins.original, json.dumps(sorted(args_in_scope.items())),
                          self._content_key(dest, sources))
        cached = None if self.nocache else self._cached(key)
        if cached is not None:
            yield {"stream": " ---> Using cache\n"}
            return self._load(cached, key).carry(state)
        if state.image_id is None:
            state.image_id = self._register(state, [])
        if ins.cmd == "RUN":
            image_id = yield from self._run(state, ins, scope)
        else:
            image_id = self._copy(state, ins, dest, sources)
        buildcache.remember(self.store, key, image_id, self._created())
        return self._load(image_id, key).carry(state)

    def _cached(self, key: str) -> str | None:
        return buildcache.lookup(self.store, key)

    def _register(self, state: _State, tags: list[str], labels: dict[str, str] | None = None) -> str:
        from corral.image import oci

        cfg = dict(state.config)
        if labels:
            cfg["Labels"] = dict(cfg.get("Labels") or {}, **labels)
        config = oci.new_config(state.layers, cfg, state.history, self._created())
        if state.author:
            config["author"] = state.author
        return oci.register_image(self.store, config, state.layers, tags)

    def _run(self, state: _State, ins, scope: dict[str, str]):  # noqa: ANN001, ANN202
        from corral.image import commit
        from corral.store import owners

        shell = state.config.get("Shell") or DEFAULT_SHELL
        if ins.json:
            argv = list(ins.args)
        elif ins.heredocs:
            line = ins.args[0].strip()
            if line.startswith("<<") and len(line.split()) == len(ins.heredocs):
                argv = shell + [ins.heredocs[0].content]  # the heredoc is the script
            else:
                argv = shell + [ins.args[0] + "\n" + "".join(h.content + h.name + "\n" for h in ins.heredocs)]
        else:
            argv = shell + [ins.args[0]]
        binds = []
        for mount in ins.flags.get("mount", []):
            fields = secret_mount(mount, scope, self.escape)
            if fields["id"] not in self.secrets:
                continue  # not required: BuildKit runs the step without it
            binds.append(f"{self.secrets[fields['id']]}:{fields['target']}:ro")
        env = [f"{k}={v}" for k, v in state.args.items()]
        network = (ins.flags.get("network") or [self.network])[-1]
        c = self.host.create_container(state.image_id, argv, entrypoint=[], env=env, network=network, binds=binds,
                                       user=state.config.get("User") or None,
                                       workdir=state.config.get("WorkingDir") or None, image_volumes=False,
                                       labels={owners.BUILD_STEP_LABEL: owners.identity()},
                                       isolation="process")  # a step's own kernel would only slow it (no host default)
        try:
            yield {"stream": f" ---> Running in {c.short_id}\n"}
            output = c.start(stream=True)
            failpoints.hit("build.run")
            text = codecs.getincrementaldecoder("utf-8")(errors="replace")  # chunks may split a character
            for _stream, data in output:
                if not self.quiet and (chunk := text.decode(data)):
                    yield {"stream": chunk}
            code = output.exit_code
            if code != 0:
                raise BuildError(f"The command '{' '.join(argv)}' returned a non-zero code: {code}")
            upper, _, skip = c.sandbox()
            created_by = "RUN " + ("|".join([str(len(state.args))] + env) + " " if env else "") + \
                " ".join(argv) + " # buildkit"
            return commit.commit(self.store, upper, skip, state.image_id, state.config, [],
                                 created_by=created_by, created=self._created(), clamp_mtime=self.epoch,
                                 history_extra={"comment": "buildkit.dockerfile.v0"})
        finally:
            c.remove(force=True)

    # COPY and ADD ---------------------------------------------------------------------------------

    def _sources(self, state: _State, ins, built: dict[int, _State]) -> tuple[str, list]:  # noqa: ANN001
        """The destination as written, and (path relative to it, real path, lstat, kind) for each entry
        a COPY/ADD writes."""
        from corral.store.merged import MergedTree

        scope = state.scope()
        words = list(ins.args) if ins.json else [expand(w, scope, self.escape) for w in ins.args]
        if ins.heredocs:
            words = [w for w in words if heredoc_word(w) is None]
        dest, srcs = words[-1], words[:-1]
        entries: list[tuple[str, str, os.stat_result, str]] = []
        source = (ins.flags.get("from") or [None])[-1]
        if ins.heredocs:
            for h in ins.heredocs:
                entries.append((h.name, "", None, "heredoc:" + h.content))  # type: ignore[arg-type]
            return dest, entries
        if source:
            stage = self._stage_ref(source, len(self.file.stages))
            if stage is not None:
                chain = [l.chain_id for l in built[stage.index].layers]
            else:
                from corral.image import repo

                chain = repo.layer_chain(self.store, repo.top_layer(self.store, repo.resolve(self.store, source)))
            tree = MergedTree([layer_diff(self.store, c) for c in reversed(chain)])
            for src in srcs:
                rel = tree.resolve(src)  # links followed inside the stage or image, never on the host
                found = tree.lookup(rel) if rel is not None else None
                if found is None:
                    raise BuildError(f"{self.file.filename}:{ins.line}: {src}: not found in {source}")
                if not stat.S_ISDIR(found[1].st_mode):
                    name = os.path.basename(os.path.normpath("/" + src)) or os.path.basename(rel)
                    entries.append((name, found[0], found[1], "image"))
                    continue
                for r, real, st in tree.walk(rel):
                    if r != rel:  # a directory's contents are copied, not the directory itself
                        entries.append((os.path.relpath(r, rel) if rel else r, real, st, "image"))
            return dest, entries
        context = MergedTree([self.context])
        for src in srcs:
            for rel in self._context_glob(src, ins, context):
                resolved = context.resolve(rel)  # as BuildKit: links followed, inside the context only
                found = context.lookup(resolved) if resolved is not None else None
                if found is None:
                    raise BuildError(f"{self.file.filename}:{ins.line}: COPY failed: {src}: not found in the build "
                                     "context (a link there leads out of it, or nowhere)")
                real, st = found
                if stat.S_ISDIR(st.st_mode):
                    for r, full, est in self._context_walk(resolved):
                        entries.append((os.path.relpath(r, resolved) if resolved else r, full, est, "context"))
                elif ins.cmd == "ADD" and _is_archive(real):
                    entries.append((os.path.basename(rel), real, st, "archive"))
                else:
                    entries.append((os.path.basename(rel), real, st, "context"))
        return dest, entries

    def _context_glob(self, pattern: str, ins, context) -> list[str]:  # noqa: ANN001 - context: a MergedTree
        """The context paths (as written, links unresolved) that pattern names, .dockerignore applied."""
        import fnmatch

        clean = os.path.normpath("/" + pattern).lstrip("/")
        if clean.startswith("..") or "/../" in f"/{clean}/":
            raise BuildError(f"{self.file.filename}:{ins.line}: {pattern}: outside the build context")
        if not any(ch in clean for ch in "*?["):
            if clean and context.resolve(clean) is None or (clean and self.ignore.excluded(clean)):
                raise BuildError(f"{self.file.filename}:{ins.line}: COPY failed: file not found in build context "
                                 f"or excluded by .dockerignore: {pattern}")
            return [clean] if clean else [""]
        found = [""]
        for part in clean.split("/"):
            nxt = []
            for base in found:
                resolved = context.resolve(base)
                for name in context.listdir(resolved) if resolved is not None else []:
                    if fnmatch.fnmatchcase(name, part):
                        nxt.append(f"{base}/{name}" if base else name)
            found = nxt
        found = [f for f in found if not self.ignore.excluded(f)]
        if not found:
            raise BuildError(f"{self.file.filename}:{ins.line}: COPY failed: no source files were specified "
                             f"(nothing matches {pattern})")
        return found

    def _context_walk(self, rel: str):  # noqa: ANN202
        """Entries under the context directory rel, .dockerignore applied, parents first."""
        base = os.path.join(self.context, rel)
        for name in sorted(os.listdir(base)):
            r = f"{rel}/{name}" if rel else name
            full = os.path.join(self.context, r)
            st = os.lstat(full)
            excluded = self.ignore.excluded(r)
            if not excluded:
                yield r, full, st
            if stat.S_ISDIR(st.st_mode) and (not excluded or self.ignore.may_contain_exceptions(r)):
                yield from self._context_walk(r)

    def _content_key(self, dest: str, entries: list) -> str:
        h = hashlib.sha256()
        for rel, real, st, kind in entries:
            h.update(f"{rel}\0{kind[:8]}\0".encode())
            if kind.startswith("heredoc:"):
                h.update(kind.encode())
                continue
            h.update(f"{stat.S_IMODE(st.st_mode)}:{stat.S_IFMT(st.st_mode)}\0".encode())
            if kind == "image":
                h.update(f"{st.st_uid}:{st.st_gid}\0".encode())
            if stat.S_ISREG(st.st_mode):
                with open(real, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
            elif stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(real).encode())
        h.update(dest.encode())
        return h.hexdigest()

    def _copy(self, state: _State, ins, dest: str, entries: list) -> str:  # noqa: ANN001
        """One layer holding the copied files (and the directories leading to them), registered."""
        import tarfile

        from corral.image import gc, oci
        from corral.image.layers import add_layer
        from corral.store.merged import MergedTree
        from corral.runtime import users

        layer_dirs = [layer_diff(self.store, l.chain_id) for l in reversed(state.layers)]
        tree = MergedTree(layer_dirs)
        workdir = state.config.get("WorkingDir") or "/"
        to_dir = dest.endswith("/") or len(entries) > 1 or any(e[3] in ("archive",) for e in entries) or \
            (len(entries) == 1 and entries[0][0] != os.path.basename(entries[0][0]))
        dest_abs = tree.resolve(os.path.join(workdir, dest), must_exist=False)  # as BuildKit, links inside the image
        if dest_abs is None:
            raise BuildError(f"{self.file.filename}:{ins.line}: {dest}: cannot copy there (a file is on the way, "
                             "or links go round)")
        if not to_dir and entries and (found := tree.lookup(dest_abs)) and stat.S_ISDIR(found[1].st_mode):
            to_dir = True
        owner = None
        if ins.flags.get("chown"):
            spec = expand(ins.flags["chown"][-1], state.scope(), self.escape)
            uid, gid, _ = users.resolve(spec, layer_dirs)
            owner = (uid, gid)
        mode = None
        if ins.flags.get("chmod"):
            text = ins.flags["chmod"][-1]
            try:
                mode = int(text, 8)
            except ValueError:
                raise InvalidArgument(f"{self.file.filename}:{ins.line}: --chmod={text}: give an octal mode") from None
        now = self.epoch if self.epoch is not None else int(time.time())
        tmpdir = self.store.mkdtemp("copy-")
        try:
            path = os.path.join(tmpdir, "layer.tar")
            written: set[str] = set()
            with open(path, "wb") as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:

                def add_dirs(rel_dir: str) -> None:
                    """Every directory down to rel_dir: as the image has it, or new (root, 0755)."""
                    parts = [p for p in rel_dir.split("/") if p]
                    for i in range(1, len(parts) + 1):
                        d = "/".join(parts[:i])
                        if d in written:
                            continue
                        written.add(d)
                        info = tarfile.TarInfo(d)
                        info.type = tarfile.DIRTYPE
                        existing = tree.lookup(d)
                        if existing is not None and stat.S_ISDIR(existing[1].st_mode):
                            st = existing[1]
                            info.mode, info.uid, info.gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
                            info.mtime = _clamp(st.st_mtime, self.epoch)
                        else:
                            info.mode, info.mtime = 0o755, now
                            if owner and i == len(parts) and to_dir:
                                info.uid, info.gid = owner
                        tar.addfile(info)

                for rel, real, st, kind in entries:
                    target = os.path.join(dest_abs, rel) if to_dir else dest_abs
                    target = os.path.normpath(target).lstrip("/")
                    add_dirs(os.path.dirname(target))
                    if kind == "archive":
                        self._add_archive(tar, real, dest_abs, add_dirs, written)
                        continue
                    if kind.startswith("heredoc:"):
                        data = kind[len("heredoc:"):].encode()
                        info = tarfile.TarInfo(target)
                        info.size, info.mode, info.mtime = len(data), mode if mode is not None else 0o644, now
                        if owner:
                            info.uid, info.gid = owner
                        import io

                        tar.addfile(info, io.BytesIO(data))
                        continue
                    info = tar.gettarinfo(real, target)
                    info.uname = info.gname = ""
                    info.mtime = _clamp(st.st_mtime, self.epoch)
                    if info.islnk():  # separate names in the source are separate files here
                        info = tar.gettarinfo(real, target)
                        info.type = tarfile.REGTYPE
                    if kind == "context" and not owner:
                        info.uid = info.gid = 0
                    if owner:
                        info.uid, info.gid = owner
                    if mode is not None and not info.issym():
                        info.mode = mode
                    if info.isdir():
                        written.add(target)
                    if info.isreg():
                        with open(real, "rb") as f:
                            tar.addfile(info, f)
                    elif info.ischr() or info.isblk():
                        continue
                    else:
                        tar.addfile(info)
            with gc.writing(self.store):
                with open(path, "rb") as src:
                    layer = add_layer(self.store, src, state.layers[-1].chain_id if state.layers else None)
                created_by = f"{ins.cmd} {' '.join(ins.args)} # buildkit"
                history = state.history + [self._history(created_by, empty=False)]
                config = oci.new_config(state.layers + [layer], state.config, history, self._created())
                return oci.register_image(self.store, config, state.layers + [layer], [])
        finally:
            from corral.store.fsutil import remove_tree

            remove_tree(tmpdir)

    def _add_archive(self, tar, archive: str, dest_abs: str, add_dirs, written: set[str]) -> None:  # noqa: ANN001
        """ADD of a local tarball: unpacked safely into a scratch directory, then written under dest."""
        import tarfile

        from corral.image.extract import extract_layer

        scratch = self.store.mkdtemp("add-")
        try:
            extract_layer(archive, scratch)
            for dirpath, dirnames, filenames in os.walk(scratch):
                dirnames.sort()
                for name in dirnames + sorted(filenames):
                    full = os.path.join(dirpath, name)
                    target = os.path.normpath(os.path.join(dest_abs, os.path.relpath(full, scratch))).lstrip("/")
                    add_dirs(os.path.dirname(target))
                    info = tar.gettarinfo(full, target)
                    info.uname = info.gname = ""
                    info.mtime = _clamp(info.mtime, self.epoch)
                    if info.isdir():
                        written.add(target)
                    if info.isreg():
                        with open(full, "rb") as f:
                            tar.addfile(info, f)
                    elif info.type in (tarfile.SYMTYPE, tarfile.DIRTYPE):
                        tar.addfile(info)
        finally:
            from corral.store.fsutil import remove_tree

            remove_tree(scratch)


def _clamp(mtime: float, limit: int | None) -> int:
    return int(mtime) if limit is None else min(int(mtime), limit)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def _is_archive(path: str) -> bool:
    """A local file ADD unpacks: a tar, plain or compressed (by content, not name, as Docker)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def _healthcheck(ins, cfg: dict) -> dict:  # noqa: ANN001
    """HEALTHCHECK as the config stores it (durations in nanoseconds); NONE disables an inherited one."""
    if ins.args and not ins.json and ins.args[0].strip().upper() == "NONE":
        return {"Test": ["NONE"]}
    check: dict = {}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        if ins.flags.get(flag):
            check[key] = parse_duration(ins.flags[flag][-1])  # checked by the parser: cannot fail here
    if ins.flags.get("retries"):
        check["Retries"] = int(ins.flags["retries"][-1])
    words = ins.args
    if ins.json:
        test = ["CMD"] + list(words)
    else:
        text = words[0].strip()
        if text.upper().startswith("CMD"):
            text = text[3:].strip()
        try:
            parsed = json.loads(text) if text.startswith("[") else None
        except ValueError:
            parsed = None
        test = ["CMD"] + parsed if isinstance(parsed, list) else ["CMD-SHELL", text]
    check["Test"] = test
    return check
