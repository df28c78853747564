"""Dockerfile parsing, variable expansion and .dockerignore matching: pure logic, no containers.

Expected values follow BuildKit (frontend/dockerfile parser, shell lexer test
vectors) and moby/patternmatcher, which `docker build` uses.
"""
from __future__ import annotations

import pytest

from corral.builder import parser
from corral.builder.instructions import key_values, parse_duration, secret_mount
from corral.builder.shellwords import expand, expand_words
from corral.builder.ignore import Ignore, clean
from corral.errors import InvalidArgument

pytestmark = pytest.mark.unit


def instructions(body: str) -> list[parser.Instruction]:
    return parser.parse("FROM busybox\n" + body).stages[0].instructions


def one(body: str) -> parser.Instruction:
    (ins,) = instructions(body)
    return ins


# --- every instruction, both forms -----------------------------------------------------------------

@pytest.mark.parametrize("line, cmd, args, is_json", [
    ("RUN echo hello world", "RUN", ["echo hello world"], False),
    ('RUN ["echo", "hello world"]', "RUN", ["echo", "hello world"], True),
    ("CMD echo $HOME", "CMD", ["echo $HOME"], False),
    ('CMD ["sh", "-c", "echo $HOME"]', "CMD", ["sh", "-c", "echo $HOME"], True),
    ("CMD []", "CMD", [], True),
    ("ENTRYPOINT exec top -b", "ENTRYPOINT", ["exec top -b"], False),
    ('ENTRYPOINT ["top", "-b"]', "ENTRYPOINT", ["top", "-b"], True),
    ("ENTRYPOINT []", "ENTRYPOINT", [], True),
    ('SHELL ["/bin/bash", "-c"]', "SHELL", ["/bin/bash", "-c"], True),
    ("VOLUME /data /logs", "VOLUME", ["/data", "/logs"], False),
    ('VOLUME ["/data", "/my logs"]', "VOLUME", ["/data", "/my logs"], True),
    ("COPY a.txt b/ /dst/", "COPY", ["a.txt", "b/", "/dst/"], False),
    ('COPY ["my file", "/dst dir/"]', "COPY", ["my file", "/dst dir/"], True),
    ("ADD app.tar.gz /opt/", "ADD", ["app.tar.gz", "/opt/"], False),
    ('ADD ["app.tar.gz", "/opt/"]', "ADD", ["app.tar.gz", "/opt/"], True),
    ("WORKDIR /my dir", "WORKDIR", ["/my dir"], False),
    ("USER app:app", "USER", ["app:app"], False),
    ("STOPSIGNAL SIGKILL", "STOPSIGNAL", ["SIGKILL"], False),
    ("MAINTAINER Jane Doe <jane@example.com>", "MAINTAINER", ["Jane Doe <jane@example.com>"], False),
    ("EXPOSE 80 443/tcp 8000-8010/udp", "EXPOSE", ["80", "443/tcp", "8000-8010/udp"], False),
    ('LABEL a=1 b="two words" c=three\\ words', "LABEL", ["a=1", 'b="two words"', "c=three\\ words"], False),
    ("LABEL legacy some value", "LABEL", ["legacy", "some value"], False),
    ('ENV A=1 B="x y"', "ENV", ["A=1", 'B="x y"'], False),
    ("ENV LEGACY some   spaced value", "ENV", ["LEGACY", "some   spaced value"], False),
    ("ARG VERSION", "ARG", ["VERSION"], False),
    ('ARG A=1 B="two words"', "ARG", ["A=1", 'B="two words"'], False),
    ("HEALTHCHECK NONE", "HEALTHCHECK", ["NONE"], False),
    ("HEALTHCHECK CMD curl -f http://localhost/ || exit 1", "HEALTHCHECK",
     ["CMD curl -f http://localhost/ || exit 1"], False),
    ('HEALTHCHECK CMD ["curl", "-f", "http://localhost/"]', "HEALTHCHECK", ["curl", "-f", "http://localhost/"], True),
    ("ONBUILD RUN echo triggered", "ONBUILD", ["RUN echo triggered"], False),
])
def test_instruction_forms(line, cmd, args, is_json):
    ins = one(line + "\n")
    assert (ins.cmd, ins.args, ins.json, ins.line) == (cmd, args, is_json, 2)
    assert ins.original == line


def test_keywords_are_case_insensitive():
    d = parser.parse("from busybox\nrun echo hi\nCopy a b\n")
    assert [i.cmd for i in d.stages[0].instructions] == ["RUN", "COPY"]


def test_invalid_json_is_shell_form():
    assert one('CMD ["a", "b",]\n').args == ['["a", "b",]']
    assert one("CMD [not json]\n").json is False
    assert one('COPY ["a" "b"] /d\n').args == ['["a"', '"b"]', "/d"]


def test_json_must_be_strings():
    with pytest.raises(InvalidArgument, match="Dockerfile:2: when using JSON array syntax, arrays must be"):
        parser.parse('FROM a\nCMD ["a", 1]\n')


def test_dash_dash_ends_flags_and_single_dash_is_an_argument():
    ins = one("RUN -- --not-a-flag\n")
    assert ins.args == ["--not-a-flag"] and ins.flags == {}
    assert one("RUN -x\n").args == ["-x"]


# --- stages ----------------------------------------------------------------------------------------

def test_stages_global_args_and_names():
    d = parser.parse("ARG BASE=busybox\nARG TAG\nFROM ${BASE}:${TAG} AS Builder\nRUN make\n"
                 "FROM --platform=linux/amd64 scratch\nCOPY --from=builder /app /app\n")
    assert [a.args for a in d.global_args] == [["BASE=busybox"], ["TAG"]]
    first, second = d.stages
    assert (first.base, first.name, first.platform, first.line, first.index) == \
        ("${BASE}:${TAG}", "builder", None, 3, 0)
    assert (second.base, second.name, second.platform, second.line, second.index) == \
        ("scratch", None, "linux/amd64", 5, 1)
    assert [i.cmd for i in first.instructions] == ["RUN"]
    assert second.instructions[0].flags == {"from": ["builder"]}
    assert d.filename == "Dockerfile"


def test_from_as_is_case_insensitive():
    assert parser.parse("FROM a as b\n").stages[0].name == "b"


def test_arg_between_stages_belongs_to_the_stage():
    d = parser.parse("FROM a\nARG X\nFROM b\n")
    assert d.global_args == [] and d.stages[0].instructions[0].cmd == "ARG"


# --- flags -----------------------------------------------------------------------------------------

def test_copy_flags():
    ins = one('COPY --from=build --chown="1000:1000" --chmod=755 --link --exclude=*.md --exclude=tmp a /b\n')
    assert ins.flags == {"from": ["build"], "chown": ["1000:1000"], "chmod": ["755"], "link": ["true"],
                         "exclude": ["*.md", "tmp"]}
    assert ins.args == ["a", "/b"]


def test_bool_flag_values():
    assert one("COPY --link=false a b\n").flags == {"link": ["false"]}
    assert one("COPY --parents=TRUE a b\n").flags == {"parents": ["true"]}
    assert one("ADD --keep-git-dir a b\n").flags == {"keep-git-dir": ["true"]}


def test_add_flags():
    digest = "sha256:" + "ab" * 32
    ins = one(f"ADD --checksum={digest} --chown=app --chmod=644 https://example.com/x /x\n")
    assert ins.flags == {"checksum": [digest], "chown": ["app"], "chmod": ["644"]}


def test_run_flags_repeat_mount():
    ins = one("RUN --mount=type=secret,id=a --mount=type=secret,id=b,target=/b --network=none "
              "--security=sandbox cat /run/secrets/a /b\n")
    assert ins.flags == {"mount": ["type=secret,id=a", "type=secret,id=b,target=/b"], "network": ["none"],
                         "security": ["sandbox"]}
    assert ins.args == ["cat /run/secrets/a /b"]


def test_mount_values_with_variables_wait_for_expansion():
    assert one("RUN --mount=type=secret,id=$ID,mode=$MODE true\n").flags["mount"] == ["type=secret,id=$ID,mode=$MODE"]


def test_healthcheck_flags():
    ins = one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1s --start-interval=500ms --retries=3 "
              "CMD curl -f http://localhost/\n")
    assert ins.flags == {"interval": ["5m"], "timeout": ["3s"], "start-period": ["1s"], "start-interval": ["500ms"],
                         "retries": ["3"]}
    assert ins.args == ["CMD curl -f http://localhost/"]


# --- continuations, comments, line numbers ---------------------------------------------------------

def test_continuation_joins_lines_and_keeps_their_indent():
    ins = one("RUN echo a \\\n    b \\\n\tc\n")
    assert ins.args == ["echo a     b \tc"]
    assert ins.original == "RUN echo a     b \tc"


def test_blanks_after_the_escape_still_continue():
    assert one("RUN echo a \\   \t\n  b\n").args == ["echo a   b"]


def test_comments_and_empty_lines_inside_a_continuation_are_skipped():
    ins = one("RUN apt-get update && \\\n  # install the tools\n\n    apt-get install -y make\n")
    assert ins.args == ["apt-get update &&     apt-get install -y make"]


def test_escaped_escape_at_the_end_is_not_a_continuation():
    first, second = instructions("RUN echo foo \\\\\nRUN echo bar\n")
    assert first.args == ["echo foo \\\\"] and second.args == ["echo bar"]


def test_continuation_at_end_of_file_is_accepted():
    assert one("RUN echo hi \\").args == ["echo hi"]


def test_line_numbers_count_every_physical_line():
    d = parser.parse("# comment\n\nFROM a\nRUN one \\\n  two \\\n  three\n\n# note\nCMD x\n")
    assert [(i.cmd, i.line) for i in d.stages[0].instructions] == [("RUN", 4), ("CMD", 9)]
    assert d.stages[0].line == 3


def test_indented_comments_and_crlf():
    d = parser.parse("FROM a\r\n   # indented comment\r\nRUN echo hi \\\r\n  there\r\n")
    (ins,) = d.stages[0].instructions
    assert ins.args == ["echo hi   there"] and ins.line == 3


def test_hash_inside_an_instruction_is_not_a_comment():
    assert one("RUN echo a # not a comment\n").args == ["echo a # not a comment"]


def test_bom_is_ignored():
    assert parser.parse("\ufeffFROM a\n").stages[0].base == "a"


# --- directives ------------------------------------------------------------------------------------

def test_directives_are_recorded():
    d = parser.parse("# syntax=docker/dockerfile:1\n# check=skip=all\n#escape = \\\nFROM a\n")
    assert d.directives == {"syntax": "docker/dockerfile:1", "check": "skip=all", "escape": "\\"}


def test_escape_backtick():
    d = parser.parse("# escape=`\nFROM a\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n   /b\n")
    copy, run = d.stages[0].instructions
    assert copy.args == ["testfile.txt", "c:\\"]
    assert run.args == ["dir c:\\    /b"]
    assert d.directives == {"escape": "`"}


def test_directive_keys_are_case_insensitive():
    assert parser.parse("# ESCAPE=`\nFROM a\n").directives == {"escape": "`"}


@pytest.mark.parametrize("before", ["# a comment\n", "\n", "FROM a\n", "# unknown=directive\n"])
def test_directives_count_only_at_the_very_top(before):
    d = parser.parse(before + "# escape=`\nFROM a\nRUN echo \\\n  hi\n")
    assert "escape" not in d.directives
    assert d.stages[-1].instructions[-1].args == ["echo   hi"]


# --- heredocs --------------------------------------------------------------------------------------

def test_run_heredoc():
    ins = one("RUN <<EOF\napt-get update\napt-get install -y curl\nEOF\n")
    assert ins.args == ["<<EOF"]
    assert ins.heredocs == [parser.Heredoc("EOF", "apt-get update\napt-get install -y curl\n", expand=True, chomp=False)]


def test_heredoc_body_is_raw_text():
    ins = one("RUN <<EOF\n# not a comment\necho a \\\nb\n\nEOF\n")
    assert ins.heredocs[0].content == "# not a comment\necho a \\\nb\n\n"


@pytest.mark.parametrize("opener", ["<<'EOF'", '<<"EOF"', "<<E'O'F"])
def test_quoted_heredoc_does_not_expand(opener):
    ins = one(f"RUN {opener}\necho $HOME\nEOF\n")
    assert ins.heredocs == [parser.Heredoc("EOF", "echo $HOME\n", expand=False, chomp=False)]


def test_chomp_strips_leading_tabs():
    ins = one("RUN <<-EOF\n\techo a\n\t\techo b\n  echo c\n\tEOF\n")
    assert ins.heredocs == [parser.Heredoc("EOF", "echo a\necho b\n  echo c\n", expand=True, chomp=True)]


def test_heredoc_given_to_a_command():
    ins = one("RUN python3 <<EOF\nprint('hi')\nEOF\n")
    assert ins.args == ["python3 <<EOF"] and ins.heredocs[0].content == "print('hi')\n"


def test_several_heredocs_in_order():
    copy, run = instructions("COPY <<a.txt <<b.txt /dst/\nfirst\na.txt\nsecond\nb.txt\n"
                             "RUN cat <<one > /x && cat <<two > /y\n1\none\n2\ntwo\n")
    assert copy.args == ["<<a.txt", "<<b.txt", "/dst/"]
    assert [(h.name, h.content) for h in copy.heredocs] == [("a.txt", "first\n"), ("b.txt", "second\n")]
    assert [(h.name, h.content) for h in run.heredocs] == [("one", "1\n"), ("two", "2\n")]
    assert (copy.line, run.line) == (2, 7)


def test_heredoc_with_flags_and_space_after_the_arrows():
    ins = one("RUN --network=none << EOF\necho\nEOF\n")
    assert ins.heredocs[0].name == "EOF" and ins.flags == {"network": ["none"]}


def test_empty_heredoc_and_crlf():
    assert one("RUN <<EOF\r\nEOF\r\n").heredocs[0].content == ""
    assert one("RUN <<EOF\r\nx\r\nEOF\r\n").heredocs[0].content == "x\r\n"


def test_no_heredoc_in_quotes_json_or_other_instructions():
    assert one('RUN echo "<<EOF"\n').heredocs == []
    assert one('RUN ["cat", "<<EOF"]\n').heredocs == []
    assert one("CMD cat <<EOF\n").heredocs == []


def test_onbuild_heredoc():
    ins = one("ONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert ins.args == ["RUN <<EOF\necho hi\nEOF"]
    assert ins.heredocs[0].content == "echo hi\n"


def test_heredoc_word():
    assert parser.heredoc_word("<<EOF") == parser.Heredoc("EOF", "", True, False)
    assert parser.heredoc_word("<<-'END'") == parser.Heredoc("END", "", False, True)
    assert parser.heredoc_word("2<<EOF").name == "EOF"
    assert parser.heredoc_word("/dst") is None and parser.heredoc_word("<<") is None and parser.heredoc_word("a<<b") is None


# --- errors: one for each way a Dockerfile can be wrong ----------------------------------------------

@pytest.mark.parametrize("text, line, reason", [
    ("", 1, "file with no instructions"),
    ("# only a comment\n\n", 2, "file with no instructions"),
    ("ARG A=1\n", 1, "no build stage: the Dockerfile has no FROM"),
    ("RUN echo\nFROM busybox\n", 1, "no build stage in current context: RUN before the first FROM"),
    ("FROM a\nFOO bar\n", 2, "unknown instruction: FOO"),
    ("FROM a\n\\\n", 2, "empty instruction"),
    ("FROM\n", 1, "FROM requires either one or three arguments"),
    ("FROM a b\n", 1, "FROM requires either one or three arguments"),
    ("FROM a AS\n", 1, "FROM requires either one or three arguments"),
    ("FROM a AS b c\n", 1, "FROM requires either one or three arguments"),
    ("FROM a AS 1st\n", 1, 'invalid name for build stage: "1st"'),
    ("FROM a AS my/stage\n", 1, 'invalid name for build stage: "my/stage"'),
    ("FROM a AS x\nRUN true\nFROM b AS X\n", 3, 'duplicate stage name "x"'),
    ("FROM --foo=bar a\n", 1, "unknown flag: --foo"),
    ("FROM a\nCOPY onlyone\n", 2, "COPY requires at least two arguments"),
    ('FROM a\nCOPY ["onlyone"]\n', 2, "COPY requires at least two arguments"),
    ("FROM a\nADD onlyone\n", 2, "ADD requires at least two arguments"),
    ("FROM a\nCOPY a <<EOF\nx\nEOF\n", 2, "COPY cannot accept a heredoc as a destination"),
    ("FROM a\nCOPY --foo=1 a b\n", 2, "unknown flag: --foo"),
    ("FROM a\nCOPY --checksum=sha256:00 a b\n", 2, "unknown flag: --checksum"),
    ("FROM a\nADD --from=x a b\n", 2, "unknown flag: --from"),
    ("FROM a\nADD --parents a b\n", 2, "unknown flag: --parents"),
    ("FROM a\nCOPY --from a b\n", 2, "missing a value on flag: --from"),
    ("FROM a\nCOPY --from=a --from=b x y\n", 2, "duplicate flag specified: --from"),
    ("FROM a\nCOPY --link=maybe a b\n", 2, "expecting boolean value for flag --link, not: maybe"),
    ("FROM a\nCOPY --link= a b\n", 2, "missing a value on flag: --link"),
    ("FROM a\nCOPY --chmod=789 a b\n", 2, 'invalid --chmod value "789"'),
    ("FROM a\nADD --checksum=md5:abc https://x/y /y\n", 2, 'invalid --checksum "md5:abc"'),
    ("FROM a\nENV\n", 2, "ENV requires at least one argument"),
    ("FROM a\nENV A\n", 2, "ENV must have two arguments"),
    ("FROM a\nENV A=1 B\n", 2, "can't find = in \"B\""),
    ("FROM a\nENV =1\n", 2, "ENV names can not be blank"),
    ("FROM a\nENV --x=1 A=1\n", 2, "unknown flag: --x"),
    ("FROM a\nLABEL\n", 2, "LABEL requires at least one argument"),
    ("FROM a\nLABEL a=1 b\n", 2, "can't find = in \"b\""),
    ("FROM a\nLABEL onlykey\n", 2, "LABEL must have two arguments"),
    ("ARG\nFROM a\n", 1, "ARG requires at least one argument"),
    ("FROM a\nARG =x\n", 2, "ARG names can not be blank"),
    ("FROM a\nEXPOSE\n", 2, "EXPOSE requires at least one argument"),
    ("FROM a\nEXPOSE http\n", 2, 'invalid port "http"'),
    ("FROM a\nEXPOSE 80/xyz\n", 2, 'invalid port "80/xyz"'),
    ("FROM a\nEXPOSE 70000\n", 2, 'invalid port "70000"'),
    ("FROM a\nEXPOSE 90-80\n", 2, 'invalid port "90-80"'),
    ("FROM a\nUSER\n", 2, "USER requires exactly one argument"),
    ("FROM a\nWORKDIR\n", 2, "WORKDIR requires exactly one argument"),
    ("FROM a\nSTOPSIGNAL\n", 2, "STOPSIGNAL requires exactly one argument"),
    ("FROM a\nMAINTAINER\n", 2, "MAINTAINER requires exactly one argument"),
    ("FROM a\nWORKDIR --x=1 /a\n", 2, "unknown flag: --x"),
    ("FROM a\nSHELL /bin/sh -c\n", 2, "SHELL requires the arguments to be in JSON form"),
    ("FROM a\nSHELL []\n", 2, "SHELL requires at least one argument"),
    ("FROM a\nVOLUME\n", 2, "VOLUME requires at least one argument"),
    ('FROM a\nVOLUME ["/a", " "]\n', 2, "VOLUME specified can not be an empty string"),
    ("FROM a\nCMD\n", 2, "CMD requires at least one argument"),
    ("FROM a\nENTRYPOINT\n", 2, "ENTRYPOINT requires at least one argument"),
    ("FROM a\nRUN\n", 2, "RUN requires at least one argument"),
    ("FROM a\nRUN []\n", 2, "RUN requires at least one argument"),
    ('FROM a\nRUN ["a", ["b"]]\n', 2, "arrays must be comprised of strings only"),
    ("FROM a\nRUN --chown=1 true\n", 2, "unknown flag: --chown"),
    ("FROM a\nRUN --network=bridge true\n", 2, 'invalid network mode "bridge"'),
    ("FROM a\nRUN --security=root true\n", 2, 'security "root" is not valid'),
    ("FROM a\nRUN --mount=type=foo true\n", 2, 'unsupported mount type "foo"'),
    ("FROM a\nRUN --mount=type=cache,target=/c true\n", 2, "type=cache is not supported"),
    ("FROM a\nRUN --mount=target=/src true\n", 2, "type=bind (the default) is not supported"),
    ("FROM a\nRUN --mount=type=secret true\n", 2, "one of id, target required"),
    ("FROM a\nRUN --mount=type=secret,id true\n", 2, "invalid field 'id' must be a key=value pair"),
    ("FROM a\nRUN --mount=type=secret,id=x,mode=999 true\n", 2, "invalid value 999 for mode"),
    ("FROM a\nRUN --mount=type=secret,id=x,uid=root true\n", 2, "invalid value root for uid"),
    ("FROM a\nRUN --mount=type=secret,id=x,gid=-1 true\n", 2, "invalid value -1 for gid"),
    ("FROM a\nRUN --mount=type=secret,id=x,required=maybe true\n", 2, "invalid value for required: maybe"),
    ("FROM a\nRUN --mount=type=secret,id=x,bogus=1 true\n", 2, "unexpected key 'bogus'"),
    ("FROM a\nRUN --mount=type=secret,id=x,src=y true\n", 2, "both source and id can't be set"),
    ("FROM a\nRUN --mount=type=secret,source=y,id=x true\n", 2, "both source and id can't be set"),
    ("FROM a\nHEALTHCHECK\n", 2, "HEALTHCHECK requires at least one argument"),
    ("FROM a\nHEALTHCHECK NONE now\n", 2, "HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nHEALTHCHECK RUN true\n", 2, 'Unknown type "RUN" in HEALTHCHECK'),
    ("FROM a\nHEALTHCHECK CMD\n", 2, "Missing command after HEALTHCHECK CMD"),
    ("FROM a\nHEALTHCHECK --interval=often CMD true\n", 2, 'invalid duration "often" for --interval'),
    ("FROM a\nHEALTHCHECK --timeout=10 CMD true\n", 2, 'invalid duration "10" for --timeout'),
    ("FROM a\nHEALTHCHECK --start-period=500us CMD true\n", 2, "--start-period cannot be less than 1ms"),
    ("FROM a\nHEALTHCHECK --retries=three CMD true\n", 2, 'invalid value "three" for --retries'),
    ("FROM a\nHEALTHCHECK --retries=-1 CMD true\n", 2, "--retries cannot be negative"),
    ("FROM a\nHEALTHCHECK --every=1s CMD true\n", 2, "unknown flag: --every"),
    ("FROM a\nONBUILD\n", 2, "ONBUILD requires at least one argument"),
    ("FROM a\nONBUILD ONBUILD RUN x\n", 2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nONBUILD FROM b\n", 2, "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD COPY x\n", 2, "COPY requires at least two arguments"),
    ("FROM a\nONBUILD BOGUS x\n", 2, "unknown instruction: BOGUS"),
    ("FROM a\nRUN <<EOF\necho never ends\n", 2, "unterminated heredoc EOF"),
    ("FROM a\nCOPY <<a <<b /d\nA\na\nB\n", 2, "unterminated heredoc b"),
    ("# escape=x\nFROM a\n", 1, "invalid escape token 'x' does not match ` or \\"),
    ("# escape=`\n# escape=\\\nFROM a\n", 2, "only one escape parser directive can be used"),
    ("# syntax=a\n# syntax=b\nFROM a\n", 2, "only one syntax parser directive can be used"),
])
def test_errors(text, line, reason):
    with pytest.raises(InvalidArgument) as e:
        parser.parse(text)
    message = str(e.value)
    assert message.startswith(f"Dockerfile:{line}: "), message
    assert reason in message, message


def test_error_names_the_file():
    with pytest.raises(InvalidArgument, match=r"^build/app.Dockerfile:3: unknown instruction: RUNN$"):
        parser.parse("FROM a\n\nRUNN x\n", "build/app.Dockerfile")


def test_multiline_error_points_at_the_first_line():
    with pytest.raises(InvalidArgument, match="^Dockerfile:2: "):
        parser.parse("FROM a\nCOPY \\\n  onlyone\n")


def test_things_docker_accepts():
    parser.parse("FROM a\nEXPOSE $PORT 53/UDP 80/sctp\nHEALTHCHECK --interval=0 --retries=0 CMD true\n"
             "HEALTHCHECK --interval=1m30s --timeout=1.5s CMD true\nRUN --mount=type=secret,target=/t,mode=0440,"
             "uid=1000,gid=1000,required=true true\nRUN --mount=type=secret,src=tok,dst=/t,ro true\n"
             "ONBUILD ADD . /app\nLABEL \"com.example.key\"=\"v\"\nENV PATH=/x:$PATH\nCOPY --chmod=u+x a b\n")


# --- expansion -------------------------------------------------------------------------------------

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": "", "V": "a/b/c"}


@pytest.mark.parametrize("word, expected", [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he\\'llo", "he'llo"),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),
    ('"abc\\\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    ('"hel\'lo"', "hel'lo"),
    ("'hello\\'", "hello\\"),
    ('"\'\'"', "''"),
    ("$.", "$."),
    ("he$1x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ('"he\\\\$PWD"', "he\\/home"),
    ("\\${}", "${}"),
    ("he\\${}xx", "he${}xx"),
    ("he${hi}xx", "hexx"),
    ("he${PWD}", "he/home"),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${PWD?}", "he/home"),
    ("he${PWD:?}", "he/home"),
    ("he${NULL?}", "he"),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${XXX}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${XXX:+000}xx", "hexx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ('"he${PWD}"', "he/home"),
    ('"he\'$PWD\'"', "he'/home'"),
    ("'$PWD'", "$PWD"),
    ("'\\$PWD'", "\\$PWD"),
    ("'\"hello\"'", '"hello"'),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
    ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
    ("안녕$KOREAN", "안녕한국어"),
    ("안'녕'하세요", "안녕하세요"),
    ("${aaa}}", "}"),
    ("${aaa:-bbb}}", "bbb}"),
    ("${aaa:-bbb {foo}", "bbb {foo"),
    ("${aaa:-${bbb:-ccc}}", "ccc"),
    ("${1:-bbb}", "bbb"),
    ("$999aaa", "aaa"),
    ("${001:-bbb}aaa", "bbbaaa"),
    ("$@@@", "@@"),
    ("${@:-bbb}aaa", "bbbaaa"),
    ("$$", ""),
    ("${#:+bbb}", ""),
    ("${NULL:-x}", "x"),
    ("${NULL-x}", ""),
    ("${NULL:+x}", ""),
    ("${NULL+x}", "x"),
    ("${V#*/}", "b/c"),
    ("${V##*/}", "c"),
    ("${V%/*}", "a/b"),
    ("${V%%/*}", "a"),
    ("${V#x}", "a/b/c"),
    ("${V/b/x}", "a/x/c"),
    ("${V//\\//_}", "a_b_c"),
    ("${V/?/-}", "-/b/c"),
    ("a b  c", "a b  c"),
])
def test_expand(word, expected):
    assert expand(word, ENV) == expected


@pytest.mark.parametrize("word", [
    'hello" there', "he'llo", "he\\\\'llo", '"hello', '"hello\\"', "'hello", "${}", "he${}xx", "he${.}",
    "he${XXX:YYY}", "he${XXX?}", "he${XXX:?}", "he${NULL:?}", "he${PWD", "he${PWD:=000}xx", "${{aaa}",
    "${aaa", "${aaa:-bbb", "${aaa:-bbb ${foo}", "${:}", "${:-bbb}", "${:+bbb}", "${V:#x}", "${V/x",
])
def test_expand_errors(word):
    with pytest.raises(InvalidArgument, match="failed to process"):
        expand(word, ENV)


def test_expand_error_message_is_the_users():
    with pytest.raises(InvalidArgument, match="TOKEN: set it with --build-arg"):
        expand("${TOKEN:?set it with --build-arg}", {})


def test_expand_with_backtick_escape():
    assert expand("C:\\dir`$X", {"X": "1"}, "`") == "C:\\dir$X"
    assert expand("C:\\dir\\$X", {"X": "1"}, "`") == "C:\\dir\\1"


def test_expand_without_quote_processing():
    assert expand("say \"$X\" 'it'", {"X": "1"}, quotes=False) == "say \"1\" 'it'"


@pytest.mark.parametrize("text, env, expected", [
    ("hello", {}, ["hello"]),
    ("hello${hi}bye", {}, ["hellobye"]),
    ("hello${hi}bye", {"hi": "hi"}, ["hellohibye"]),
    ("hello${space}bye", {"space": "abc  def"}, ["helloabc", "defbye"]),
    ('hello"${space}"bye', {"space": "abc  def"}, ["helloabc  defbye"]),
    ('hello "${space}"bye', {"space": "abc  def"}, ["hello", "abc  defbye"]),
    ("hello${leading}def", {"leading": "  ab c"}, ["hello", "ab", "cdef"]),
    ('hello"${leading}" def', {"leading": "  ab c"}, ["hello  ab c", "def"]),
    ("hello${trailing}d", {"trailing": "ab c   "}, ["helloab", "c", "d"]),
    ('hello" there  "', {}, ["hello there  "]),
    ("hello there     ", {}, ["hello", "there"]),
    ("hello\\ there", {}, ["hello there"]),
    ('hello\\" there', {}, ['hello"', "there"]),
    ('hello"\\\\there"', {}, ["hello\\there"]),
    ("hello'\\\\there'", {}, ["hello\\\\there"]),
    ('"" a', {}, ["a"]),
    ("80 $PORTS", {"PORTS": "443/tcp 8080"}, ["80", "443/tcp", "8080"]),
])
def test_expand_words(text, env, expected):
    assert expand_words(text, env) == expected


def test_expand_words_error():
    with pytest.raises(InvalidArgument):
        expand_words('hello" there', {})


# --- key_values ------------------------------------------------------------------------------------

def test_key_values_forms():
    assert key_values(["A=1", "B=$A"], "ENV") == [("A", "1"), ("B", "$A")]
    assert key_values(["A="], "ENV") == [("A", "")]
    assert key_values(["A=x=y"], "LABEL") == [("A", "x=y")]
    assert key_values(['A="two words"'], "LABEL") == [("A", '"two words"')]
    assert key_values(["KEY", "some   value"], "ENV") == [("KEY", "some   value")]
    assert key_values(["KEY", "some", "value"], "LABEL") == [("KEY", "some value")]
    assert key_values(["NAME", "V=1", "E="], "ARG") == [("NAME", None), ("V", "1"), ("E", "")]


@pytest.mark.parametrize("words, cmd, reason", [
    ([], "ENV", "ENV requires at least one argument"),
    (["A"], "ENV", "ENV must have two arguments"),
    (["A=1", "B"], "LABEL", "can't find = in \"B\""),
    (["=1"], "ENV", "ENV names can not be blank"),
    (["=1"], "ARG", "ARG names can not be blank"),
    ([], "ARG", "ARG requires at least one argument"),
])
def test_key_values_errors(words, cmd, reason):
    with pytest.raises(InvalidArgument) as e:
        key_values(words, cmd)
    assert reason in str(e.value)  # the reason only: the parser, which knows the line, adds "Dockerfile:N: "


def test_key_values_from_parsed_instructions():
    env, legacy, arg = instructions('ENV A=1 B="$A two"\nENV MSG hello  world\nARG X Y=2\n')
    assert key_values(env.args, "ENV") == [("A", "1"), ("B", '"$A two"')]
    assert key_values(legacy.args, "ENV") == [("MSG", "hello  world")]
    assert key_values(arg.args, "ARG") == [("X", None), ("Y", "2")]


# --- helpers for the executor ----------------------------------------------------------------------

def test_secret_mount_defaults():
    assert secret_mount("type=secret,id=tok", {}) == {
        "id": "tok", "target": "/run/secrets/tok", "required": False, "mode": 0o400, "uid": 0, "gid": 0}
    m = secret_mount("type=secret,target=/root/.npmrc,required,mode=0440,uid=1000,gid=100", {})
    assert m == {"id": ".npmrc", "target": "/root/.npmrc", "required": True, "mode": 0o440, "uid": 1000, "gid": 100}
    assert secret_mount("type=secret,src=$ID,dst=/s", {"ID": "k"})["id"] == "k"
    with pytest.raises(InvalidArgument, match="not supported"):
        secret_mount("type=$T,id=x", {"T": "cache"})


@pytest.mark.parametrize("text, ns", [
    ("0", 0), ("30s", 30 * 10**9), ("1m30s", 90 * 10**9), ("1.5h", 5400 * 10**9), ("500ms", 5 * 10**8),
    ("2us", 2000), ("2µs", 2000), ("10ns", 10), (".5s", 5 * 10**8), ("1.s", 10**9), ("-1s", -(10**9)),
])
def test_parse_duration(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "s", "10", "1x", ".s", "1..5s", "1s2", "+"])
def test_parse_duration_errors(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# --- .dockerignore ---------------------------------------------------------------------------------

def excluded(patterns: list[str], paths: list[str]) -> list[str]:
    ignore = Ignore(patterns)
    return [p for p in paths if ignore.excluded(p)]


def test_dockerignore_docs_example():
    paths = ["somedir/temporary.txt", "somedir/temp", "somedir/temp/deep/file", "somedir/subdir/temporary.txt",
             "tempa", "tempb", "temp", "tempab", "temporary.txt", "a/b/c/temp"]
    assert excluded(["*/temp*", "*/*/temp*", "temp?"], paths) == [
        "somedir/temporary.txt", "somedir/temp", "somedir/temp/deep/file", "somedir/subdir/temporary.txt",
        "tempa", "tempb"]


def test_double_star():
    paths = ["main.go", "cmd/x/main.go", "main.gox", "README.md"]
    assert excluded(["**/*.go"], paths) == ["main.go", "cmd/x/main.go"]
    assert excluded(["**"], paths) == paths
    assert excluded(["**/foo"], ["foo", "a/foo", "a/b/foo/c", "afoo"]) == ["foo", "a/foo", "a/b/foo/c"]
    assert excluded(["a/**/z"], ["a/z", "a/b/z", "a/b/c/z", "b/z"]) == ["a/z", "a/b/z", "a/b/c/z"]
    assert excluded(["a/**"], ["a", "a/x", "a/x/y"]) == ["a/x", "a/x/y"]


def test_exceptions_last_match_wins():
    paths = ["a.md", "README.md", "README-secret.md", "docs/a.md"]
    assert excluded(["*.md", "!README.md"], paths) == ["a.md", "README-secret.md"]
    assert excluded(["*.md", "README-secret.md", "!README*.md"], paths) == ["a.md"]
    assert excluded(["*.md", "!README*.md", "README-secret.md"], paths) == ["a.md", "README-secret.md"]


def test_directory_pattern_excludes_its_contents():
    paths = ["node_modules", "node_modules/a/index.js", "src/node_modules/x", "node_modules_backup"]
    assert excluded(["node_modules"], paths) == ["node_modules", "node_modules/a/index.js"]
    assert excluded(["*/node_modules"], paths) == ["src/node_modules/x"]


def test_patterns_are_cleaned_and_relative():
    paths = ["foo/x", "bar", "baz", "qux/y", "secret"]
    assert excluded(["/foo", "./bar/", "x/../baz", "qux//", "!/secret", "secret"], paths) == paths
    assert excluded(["  spaced  "], ["spaced"]) == ["spaced"]
    assert clean("a//b/./c/..") == "a/b" and clean("") == "." and clean("/../a") == "/a" and clean("../a") == "../a"


def test_match_syntax():
    paths = ["a.txt", "b.txt", "d.txt", "x/a.txt", "star*", "q?", "ab"]
    assert excluded(["[a-c].txt"], paths) == ["a.txt", "b.txt"]
    assert excluded(["[^a].txt"], paths) == ["b.txt", "d.txt"]
    assert excluded(["*.txt"], paths) == ["a.txt", "b.txt", "d.txt"]
    assert excluded(["star\\*"], paths + ["starx"]) == ["star*"]
    assert excluded(["?"], ["a", "ab", "a/b"]) == ["a", "a/b"]
    assert excluded(["a.b+c(d)"], ["a.b+c(d)", "axb+c(d)"]) == ["a.b+c(d)"]


@pytest.mark.parametrize("pattern, path, hit", [  # from moby/patternmatcher's own tests
    ("**/", "file", True), ("**/**", "dir/file", True), ("**/dir2/*", "dir/dir2/file", True),
    ("**file", "dir/dir/file", True), ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False), ("**/*.txt", "file.txt", True), ("a**/*.txt", "a/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt**", "a/file.txt", True), ("a[^b-d]e", "aze", True),
    (".*", ".foo", True), (".*", "foo", False), ("abc.def", "abcZdef", False), ("a\\\\", "a\\", True),
    ("**/.foo", "bar.foo", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True), ("a*", "ab/c", True),
    ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a?b", "a\u263ab", True),
    ("[a-\u03b6]*", "\u03b1", True), ("[\\]a]", "]", True), ("[\\-x]", "-", True), ("[x\\-]", "z", False),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
])
def test_patternmatcher_vectors(pattern, path, hit):
    assert Ignore([pattern]).excluded(path) is hit


@pytest.mark.parametrize("patterns, path, hit", [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
])
def test_patternmatcher_multi_vectors(patterns, path, hit):
    assert Ignore(patterns).excluded(path) is hit


def test_exception_inside_an_excluded_directory():
    ignore = Ignore(["build", "!build/keep"])
    assert [p for p in ["build", "build/keep", "build/keep/x", "build/other"] if ignore.excluded(p)] == \
        ["build", "build/other"]
    assert ignore.may_contain_exceptions("build") is True
    assert ignore.may_contain_exceptions("other") is False
    assert ignore.may_contain_exceptions("build/keep") is True


def test_may_contain_exceptions():
    assert Ignore(["build"]).may_contain_exceptions("build") is False
    assert Ignore(["docs", "!docs/*.md"]).may_contain_exceptions("src") is True  # a wildcard: must look
    assert Ignore(["*", "!src/**"]).may_contain_exceptions("src") is True
    assert Ignore(["*", "!src/**"]).may_contain_exceptions("vendor") is False
    ignore = Ignore(["docs", "!docs/*.md"])
    assert [p for p in ["docs/a.md", "docs/a.txt"] if ignore.excluded(p)] == ["docs/a.txt"]


def test_parent_results_as_the_walker_sees_them():
    # BuildKit's walker carries each pattern's result down from the parent directory and skips
    # patterns that cannot change the outcome: "a/b" re-included by the exception stays included.
    assert excluded(["a", "!a/b", "a"], ["a", "a/b", "a/c"]) == ["a", "a/c"]
    assert excluded(["*", "!keep"], ["keep", "keep/x", "other/x"]) == ["other/x"]


def test_the_root_is_never_excluded():
    assert not Ignore(["**"]).excluded(".") and not Ignore(["*"]).excluded("")


def test_bad_patterns():
    for pattern in ["[", "[]", "[a-]", "a\\", "!", "[]a]", "[-x]", "[a-b-c]", "[^bc", "a["]:
        with pytest.raises(InvalidArgument):
            Ignore([pattern])


def test_from_file(tmp_path):
    assert not Ignore.from_file(str(tmp_path / "missing")).excluded("anything")
    path = tmp_path / ".dockerignore"
    path.write_bytes(b"\xef\xbb\xbf# comment\r\n\r\n*.log\r\n  # not a comment when indented\r\n!keep.log\n#x\n")
    ignore = Ignore.from_file(str(path))
    assert [p for p in ["a.log", "keep.log", "#x", "# not a comment when indented"] if ignore.excluded(p)] == \
        ["a.log", "# not a comment when indented"]
    path.write_text("[\n")
    with pytest.raises(InvalidArgument, match=r"\.dockerignore: "):
        Ignore.from_file(str(path))


def test_builder_imports_nothing_from_api():
    """builder/ sits under api/ (api's Host.build drives a Build) and reaches the engine only through
    builder/backend.py's protocol: an import of corral.api anywhere in it, even in a function or
    under TYPE_CHECKING, would make the two packages import each other."""
    import ast
    import pathlib

    package = pathlib.Path(__file__).parents[1] / "src" / "corral" / "builder"
    found = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {n}" for n in names if n == "corral.api" or n.startswith("corral.api.")]
    assert len(list(package.glob("*.py"))) >= 6 and found == []


def test_modules_import_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, corral.builder.parser, corral.builder.shellwords, corral.builder.instructions, "
            "corral.builder.ignore; "
            "print(sorted({'re', 'json', 'csv', 'warnings'} & set(sys.modules)))")
    src = __file__.rsplit("/tests/", 1)[0] + "/src"
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src}).stdout
    assert out.strip() == "[]"
