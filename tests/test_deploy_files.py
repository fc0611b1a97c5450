"""The deployment files in deploy/ say what the operator guide promises.

There is no Docker engine, nginx or systemd in the test environment, so every check
here is static: the files are parsed (compose.yaml with a strict YAML-subset parser,
the rest with small purpose-built readers) and compared with each other and with the
code — the settings the server reads, the CLI it offers, its default limits — so that
the deployment and the code cannot drift apart unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import shlex
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from server.cli import _parser as cli_parser
from server.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
CADDYFILE = DEPLOY / "Caddyfile"
NGINX = DEPLOY / "nginx" / "witnesslink.conf"
UNIT = DEPLOY / "systemd" / "witnesslink.service"
UNIT_ENV = DEPLOY / "systemd" / "witnesslink.env.example"
ADMIN_HELPER = DEPLOY / "systemd" / "witnesslink-admin"
README = DEPLOY / "README.md"
APP_SERVICES = ("app1", "app2")

# The proxy must accept the largest attachment plus the server's own headroom
# (server/app.py: client_max_size = max(attachment, json) + 64 KiB).
REQUIRED_BODY_LIMIT = max(Settings().attachment_max_bytes, Settings().json_max_bytes) + 64 * 1024


def deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


# --- a strict YAML subset -------------------------------------------------------------
# compose.yaml is kept to block mappings, block sequences, quoted and plain scalars,
# flow lists of scalars and "{}"; anything else (anchors, tags, multi-line scalars,
# values YAML 1.1 would read as booleans or base-60 numbers) is rejected, so what this
# reads is what Docker Compose reads. PyYAML then checks the reading agrees.


class YamlSubsetError(ValueError):
    pass


_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*")
_YAML11_SURPRISES = re.compile(
    r"(?i:y|n|yes|no|on|off)|[-+]?[0-9][0-9_]*(:[0-9]+)+|[0-9]{4}-[0-9]{2}-[0-9]{2}.*|0[0-9_]+"
)


def _strip_comment(line: str) -> str:
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(line):
        if quote == '"' and escaped:
            escaped = False
        elif quote == '"' and ch == "\\":
            escaped = True
        elif quote is not None:
            if ch == quote:
                quote = None
        elif ch in "\"'" and (i == 0 or line[i - 1] in " [,"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _quoted(text: str, lineno: int) -> tuple[str, str]:
    """The quoted scalar at the start of ``text`` and what follows it."""
    quote, out, i = text[0], [], 1
    while i < len(text):
        ch = text[i]
        if quote == "'" and ch == "'":
            if text[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), text[i + 1 :]
        if quote == '"' and ch == "\\":
            escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/"}
            nxt = text[i + 1 : i + 2]
            if nxt not in escapes:
                raise YamlSubsetError(f"line {lineno}: unsupported escape \\{nxt}")
            out.append(escapes[nxt])
            i += 2
            continue
        if quote == '"' and ch == '"':
            return "".join(out), text[i + 1 :]
        out.append(ch)
        i += 1
    raise YamlSubsetError(f"line {lineno}: unterminated quoted scalar")


def _split_flow(inner: str, lineno: int) -> list[str]:
    items, quote, start = [], None, 0
    for i, ch in enumerate(inner):
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[]{}":
            raise YamlSubsetError(f"line {lineno}: nested flow collections are not supported")
        elif ch == ",":
            items.append(inner[start:i])
            start = i + 1
    items.append(inner[start:])
    stripped = [item.strip() for item in items]
    if stripped == [""]:
        return []
    if "" in stripped:
        raise YamlSubsetError(f"line {lineno}: empty item in flow sequence")
    return stripped


def _scalar(text: str, lineno: int) -> Any:
    if text[0] in "\"'":
        value, rest = _quoted(text, lineno)
        if rest.strip():
            raise YamlSubsetError(f"line {lineno}: text after a quoted scalar: {rest!r}")
        return value
    if text.startswith("["):
        if not text.endswith("]"):
            raise YamlSubsetError(f"line {lineno}: unterminated flow sequence")
        return [_scalar(item, lineno) for item in _split_flow(text[1:-1], lineno)]
    if text.startswith("{"):
        if text.replace(" ", "") != "{}":
            raise YamlSubsetError(f"line {lineno}: flow mappings other than {{}} are not supported")
        return {}
    if text[0] in "&*!|>%@`?" or ": " in text or text.endswith(":"):
        raise YamlSubsetError(f"line {lineno}: unsupported YAML construct: {text!r}")
    if text in {"true", "True", "TRUE"}:
        return True
    if text in {"false", "False", "FALSE"}:
        return False
    if text in {"null", "Null", "NULL", "~"}:
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _YAML11_SURPRISES.fullmatch(text):
        raise YamlSubsetError(f"line {lineno}: quote {text!r}: YAML 1.1 does not read it as text")
    return text


def _split_key(text: str, lineno: int) -> tuple[str, str] | None:
    """``key: rest`` split into its parts, or None when ``text`` is not a mapping entry."""
    if text[0] in "\"'":
        key, rest = _quoted(text, lineno)
        if not (rest == ":" or rest.startswith(": ")):
            return None
        return key, rest[1:].strip()
    match = re.match(r"([^\s:#\[\]{},&*!|>'\"%@`?-][^:]*?|-[^\s:][^:]*?):(?: +(.*))?$", text)
    if match is None:
        return None
    return match.group(1), (match.group(2) or "").strip()


class _YamlSubset:
    def __init__(self, text: str) -> None:
        self.lines: list[tuple[int, int, str]] = []
        for lineno, raw in enumerate(text.splitlines(), 1):
            if raw.startswith(("---", "...", "%")):
                raise YamlSubsetError(f"line {lineno}: documents and directives are not supported")
            line = _strip_comment(raw).rstrip()
            body = line.lstrip(" ")
            if not body:
                continue
            if body.startswith("\t"):
                raise YamlSubsetError(f"line {lineno}: tab in indentation")
            self.lines.append((lineno, len(line) - len(body), body))
        self.i = 0

    def parse(self) -> Any:
        if not self.lines:
            return None
        value = self._block(self.lines[0][1])
        if self.i != len(self.lines):
            raise YamlSubsetError(f"line {self.lines[self.i][0]}: unexpected dedent")
        return value

    @staticmethod
    def _is_item(body: str) -> bool:
        return body == "-" or body.startswith("- ")

    def _block(self, indent: int) -> Any:
        if self._is_item(self.lines[self.i][2]):
            return self._sequence(indent)
        return self._mapping(indent)

    def _nested(self, indent: int) -> Any:
        if self.i < len(self.lines) and self.lines[self.i][1] > indent:
            return self._block(self.lines[self.i][1])
        return None

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while self.i < len(self.lines):
            lineno, col, body = self.lines[self.i]
            if col < indent or not self._is_item(body):
                break
            if col > indent:
                raise YamlSubsetError(f"line {lineno}: unexpected indentation")
            rest = body[1:].lstrip(" ")
            if not rest:
                self.i += 1
                items.append(self._nested(indent))
            elif _split_key(rest, lineno) is not None:
                # A mapping that starts on the dash line: read it at its first key's column.
                item_col = col + len(body) - len(rest)
                self.lines[self.i] = (lineno, item_col, rest)
                items.append(self._mapping(item_col))
            else:
                self.i += 1
                items.append(_scalar(rest, lineno))
        return items

    def _mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self.i < len(self.lines):
            lineno, col, body = self.lines[self.i]
            if col < indent:
                break
            if col > indent:
                raise YamlSubsetError(f"line {lineno}: unexpected indentation")
            split = _split_key(body, lineno)
            if split is None:
                raise YamlSubsetError(f"line {lineno}: expected 'key: value', got {body!r}")
            key, rest = split
            if key in result:
                raise YamlSubsetError(f"line {lineno}: duplicate key {key!r}")
            self.i += 1
            if rest:
                result[key] = _scalar(rest, lineno)
            elif (
                self.i < len(self.lines)
                and self.lines[self.i][1] == indent
                and self._is_item(self.lines[self.i][2])
            ):
                result[key] = self._sequence(indent)
            else:
                result[key] = self._nested(indent)
        return result


def parse_yaml_subset(text: str) -> Any:
    """Raises: YamlSubsetError for anything outside the supported subset."""
    return _YamlSubset(text).parse()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb:\n  - x\n  - 'y z'\n", {"a": 1, "b": ["x", "y z"]}),
        ('a:\n- k: v  # comment\n  n: ["p q", r]\n', {"a": [{"k": "v", "n": ["p q", "r"]}]}),
        ('a: "80:80"\nb: {}\nc: true\nd:\n', {"a": "80:80", "b": {}, "c": True, "d": None}),
    ],
)
def test_yaml_subset_parser_reads_what_yaml_reads(text: str, expected: Any) -> None:
    assert parse_yaml_subset(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ports:\n  - 22:22\n",  # YAML 1.1 reads base 60: 1342
        "flag: yes\n",  # YAML 1.1 boolean
        "a: 1\na: 2\n",  # Compose rejects duplicate keys
        "a: &x 1\nb: *x\n",  # anchors are out of the subset
        "a:\n  b: 1\n   c: 2\n",  # bad indentation
        "a: |\n  text\n",  # block scalars are out of the subset
    ],
)
def test_yaml_subset_parser_rejects_what_it_cannot_read_faithfully(text: str) -> None:
    with pytest.raises(YamlSubsetError):
        parse_yaml_subset(text)


# --- compose.yaml ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed = parse_yaml_subset(COMPOSE.read_text())
    assert isinstance(parsed, dict)
    return parsed


def test_compose_parses_the_same_with_pyyaml_when_it_is_installed(
    compose: dict[str, Any],
) -> None:
    import yaml  # a test dependency: the cross-check always runs

    assert yaml.safe_load(COMPOSE.read_text()) == compose


def test_compose_has_two_apps_a_database_and_a_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"app1", "app2", "db", "proxy"}
    assert str(services["db"]["image"]).startswith("postgres:16")
    assert str(services["proxy"]["image"]).startswith("caddy:2")


def test_app_instances_are_reachable_only_through_the_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in APP_SERVICES:
        assert "ports" not in services[name], f"{name} must not publish ports"
        assert "network_mode" not in services[name]
    published = [str(p) for p in services["proxy"]["ports"]]
    assert any(p.split("/")[0].endswith(":443") for p in published)
    assert {"app1", "app2"} <= set(services["proxy"]["depends_on"])


def test_app_instances_are_identical_and_share_secret_key_and_database(
    compose: dict[str, Any],
) -> None:
    app1, app2 = (compose["services"][name] for name in APP_SERVICES)
    allowed_to_differ = {"hostname", "container_name"}
    strip = {k: v for k, v in app1.items() if k not in allowed_to_differ}
    assert strip == {k: v for k, v in app2.items() if k not in allowed_to_differ}

    env_files = app1["env_file"]
    assert env_files == ["witnesslink.env"]
    example = read_env_file(DEPLOY / "witnesslink.env.example")
    assert example["WITNESSLINK_DATABASE_URL"].startswith("postgresql://")
    assert "@db:5432/" in example["WITNESSLINK_DATABASE_URL"]
    assert "WITNESSLINK_SECRET_KEY" in example
    # Both must come from the one shared env file, not per-service overrides.
    environment = app1.get("environment", {})
    assert "WITNESSLINK_SECRET_KEY" not in environment
    assert "WITNESSLINK_DATABASE_URL" not in environment
    assert str(environment["WITNESSLINK_TRUST_FORWARDED_FOR"]).lower() == "true"


def test_apps_run_unprivileged_and_cannot_create_per_instance_keys(
    compose: dict[str, Any],
) -> None:
    app = compose["services"]["app1"]
    assert app["read_only"] is True
    assert app["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in app["security_opt"]
    data_mounts = [v for v in app["volumes"] if str(v).split(":")[1] == "/var/lib/witnesslink"]
    assert data_mounts
    assert all(str(v).endswith(":ro") for v in data_mounts)


def test_database_has_volume_healthcheck_and_password_from_a_secret(
    compose: dict[str, Any],
) -> None:
    db = compose["services"]["db"]
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    environment = db["environment"]
    assert "POSTGRES_PASSWORD" not in environment
    secret = environment["POSTGRES_PASSWORD_FILE"].removeprefix("/run/secrets/")
    assert secret in db["secrets"]
    assert compose["secrets"][secret]["file"].startswith("./secrets/")
    for name in APP_SERVICES:
        assert compose["services"][name]["depends_on"]["db"]["condition"] == "service_healthy"


def test_database_network_has_no_route_out(compose: dict[str, Any]) -> None:
    (db_network,) = compose["services"]["db"]["networks"]
    assert compose["networks"][db_network]["internal"] is True
    assert db_network not in compose["services"]["proxy"]["networks"]


def test_compose_references_files_that_exist(compose: dict[str, Any]) -> None:
    build = compose["services"]["app1"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE.resolve()
    assert (context / "pyproject.toml").is_file()
    for service in compose["services"].values():
        for env_file in service.get("env_file", []):
            assert (DEPLOY / f"{env_file}.example").is_file(), f"{env_file}.example is missing"
    proxy_mounts = [str(v) for v in compose["services"]["proxy"]["volumes"]]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy_mounts


def test_filled_in_settings_and_secrets_are_ignored_by_git() -> None:
    ignored = (DEPLOY / ".gitignore").read_text().split()
    for entry in ("witnesslink.env", "proxy.env", "secrets/", "certs/"):
        assert entry in ignored


# --- Dockerfile ----------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    instructions = dockerfile_instructions()
    args = {}
    for word, rest in instructions:
        if word == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
    images = []
    for word, rest in instructions:
        if word == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    assert len(images) >= 2
    assert all(image == "python:3.11-slim" for image in images)


def test_dockerfile_installs_the_package_without_dev_dependencies() -> None:
    runs = [rest for word, rest in dockerfile_instructions() if word == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs
    assert any(re.search(r"pip install \.(\s|$)", r) for r in installs)
    for run in installs:
        assert "[test]" not in run
        assert "-e " not in run
    assert any(word == "COPY" and rest.startswith("--from=") for word, rest in final_stage())


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [rest for word, rest in final_stage() if word == "USER"]
    assert users, "the runtime stage must switch to an unprivileged USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_serves_on_8080_with_a_data_volume() -> None:
    stage = final_stage()
    cmd = json.loads(next(rest for word, rest in stage if word == "CMD"))
    assert cmd == ["witnesslink", "serve", "--host", "0.0.0.0"]  # noqa: S104 (inside the container)
    cli_parser().parse_args(cmd[1:])
    assert ("EXPOSE", "8080") in stage
    volumes = [rest for word, rest in stage if word == "VOLUME"]
    assert any("/var/lib/witnesslink" in v for v in volumes)
    env = " ".join(rest for word, rest in stage if word == "ENV")
    assert "WITNESSLINK_DATA_DIR=/var/lib/witnesslink" in env


def test_dockerfile_healthcheck_uses_python_against_livez() -> None:
    checks = [rest for word, rest in final_stage() if word == "HEALTHCHECK"]
    assert len(checks) == 1
    command = json.loads(checks[0][checks[0].index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"]
    assert "/livez" in command[2]
    assert "urllib" in command[2]
    compile(command[2], "<HEALTHCHECK>", "exec")
    assert "curl" not in checks[0]
    assert "wget" not in checks[0]


def test_docker_build_context_is_an_allow_list() -> None:
    ignore = DEPLOY / "Dockerfile.dockerignore"
    patterns = [
        line.strip()
        for line in ignore.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert "wire" in packages
    for needed in ("!pyproject.toml", "!README.md", *(f"!{p}/" for p in packages)):
        assert needed in patterns, f"{needed}: pip install . needs it in the build context"
    for secret in ("**/*.key", "**/.env", "**/*.env", "**/*.db"):
        assert secret in patterns


# --- Caddyfile -------------------------------------------------------------------------


def without_comments(text: str) -> str:
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def blocks(text: str, opener: str) -> list[str]:
    """The bodies of every ``opener ... {`` block (braces balanced)."""
    found = []
    for match in re.finditer(rf"(?m)^\s*{opener}\b[^\n{{]*\{{", text):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found.append(text[match.end() : i - 1])
    return found


def size_in_bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([KMG]i?B?|[kmg]|B)?", value)
    assert match, value
    number, unit = int(match.group(1)), (match.group(2) or "B")
    if unit in {"k", "m", "g"}:  # nginx: binary units
        return number * 1024 ** "kmg".index(unit) * 1024
    power = " KMG".index(unit[0]) if unit != "B" else 0
    return number * (1024 if "i" in unit else 1000) ** power


def test_caddy_balances_both_instances_with_health_checks() -> None:
    text = without_comments(CADDYFILE.read_text())
    (proxy,) = blocks(text, "reverse_proxy")
    upstreams = re.search(r"reverse_proxy\s+([^{\n]+)\{", text)
    assert upstreams is not None
    assert upstreams.group(1).split() == ["app1:8080", "app2:8080"]
    assert re.search(r"^\s*health_uri\s+/readyz\s*$", proxy, re.M)
    assert "lb_policy" in proxy


def test_caddy_limits_bodies_and_sends_hsts() -> None:
    text = without_comments(CADDYFILE.read_text())
    (body,) = blocks(text, "request_body")
    limit = re.search(r"max_size\s+(\S+)", body)
    assert limit is not None
    assert size_in_bytes(limit.group(1)) >= REQUIRED_BODY_LIMIT
    (headers,) = blocks(text, "header")
    assert re.search(r"Strict-Transport-Security\s+\"max-age=\d{8,}", headers)
    assert not re.search(r"^\s*debug\s*$", text, re.M), "debug logging leaks headers"


def test_every_caddy_log_drops_client_addresses_headers_and_query_strings() -> None:
    text = without_comments(CADDYFILE.read_text())
    logs = blocks(text, "log")
    assert len(logs) >= 2, "the access log and Caddy's own log must both be configured"
    for log in logs:
        for field in ("remote_ip", "client_ip", "remote_port", "headers"):
            assert re.search(rf"request>{field}\s+delete", log), field
        assert re.search(r"request>uri\s+regexp\s+\"\\\?\.\*\$\"\s+\"\"", log)


# --- systemd -----------------------------------------------------------------------------


def unit_directives() -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        directives.setdefault(key.strip(), []).append(value.strip())
    return directives


@pytest.mark.parametrize(
    ("directive", "value"),
    [
        ("DynamicUser", "yes"),
        ("StateDirectory", "witnesslink"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("CapabilityBoundingSet", ""),
        ("UMask", "0077"),
    ],
)
def test_systemd_unit_is_hardened(directive: str, value: str) -> None:
    assert unit_directives().get(directive, [None])[-1] == value


def test_systemd_unit_restricts_address_families_and_system_calls() -> None:
    directives = unit_directives()
    (families,) = directives["RestrictAddressFamilies"]
    assert set(families.split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in directives["SystemCallFilter"]


def test_systemd_unit_serves_from_the_state_directory() -> None:
    directives = unit_directives()
    assert "WITNESSLINK_DATA_DIR=/var/lib/witnesslink" in directives["Environment"]
    (exec_start,) = directives["ExecStart"]
    program, *args = shlex.split(exec_start)
    assert program.startswith("/")
    assert program.endswith("/witnesslink")
    assert args[0] == "serve"
    cli_parser().parse_args(args)
    assert directives["EnvironmentFile"] == ["/etc/witnesslink/witnesslink.env"]


def test_admin_helper_runs_as_the_service_user_with_the_service_settings() -> None:
    directives = unit_directives()
    helper = ADMIN_HELPER.read_text()
    assert ADMIN_HELPER.stat().st_mode & 0o111, "witnesslink-admin must be executable"
    assert f"--property=User={directives['User'][-1]}" in helper
    assert f"--property=StateDirectory={directives['StateDirectory'][-1]}" in helper
    assert f"--property=EnvironmentFile={directives['EnvironmentFile'][-1]}" in helper
    assert "--setenv=WITNESSLINK_DATA_DIR=/var/lib/witnesslink" in helper
    program = shlex.split(directives["ExecStart"][-1])[0]
    assert f"{program} admin" in helper


def test_systemd_settings_listen_on_loopback_behind_the_proxy() -> None:
    env = read_env_file(UNIT_ENV)
    assert env["WITNESSLINK_HOST"] == "127.0.0.1"
    assert env["WITNESSLINK_TRUST_FORWARDED_FOR"] == "true"


# --- nginx -------------------------------------------------------------------------------


def nginx_statements() -> list[str]:
    text = without_comments(NGINX.read_text())
    return [" ".join(s.split()) for s in re.split(r"[;{}]", text) if s.strip()]


def test_nginx_access_log_has_no_query_strings_or_client_addresses() -> None:
    statements = nginx_statements()
    formats = {s.split()[1]: s for s in statements if s.startswith("log_format ")}
    assert formats
    for definition in formats.values():
        assert "$uri" in definition
        for leak in ("$request", "$request_uri", "$args", "$query_string", "$is_args"):
            assert not re.search(re.escape(leak) + r"(?![A-Za-z_])", definition), leak
        for leak in ("$remote_addr", "$binary_remote_addr", "$http_x_forwarded_for"):
            assert leak not in definition
    access_logs = [s.split()[1:] for s in statements if s.startswith("access_log ")]
    assert access_logs
    for args in access_logs:
        assert args == ["off"] or (len(args) >= 2 and args[1] in formats), args


def test_nginx_passes_websocket_upgrades_on_v1_ws() -> None:
    text = without_comments(NGINX.read_text())
    (ws,) = blocks(text, r"location\s+=\s+/v1/ws")
    assert re.search(r"proxy_http_version\s+1\.1;", ws)
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade;", ws)
    connection = re.search(r"proxy_set_header\s+Connection\s+(\$\w+);", ws)
    assert connection is not None
    assert re.search(rf"map\s+\$http_upgrade\s+{re.escape(connection.group(1))}\s*\{{", text)


def test_nginx_limits_bodies_sends_hsts_and_forwards_the_peer_address() -> None:
    statements = nginx_statements()
    (limit,) = [s.split()[1] for s in statements if s.startswith("client_max_body_size ")]
    assert size_in_bytes(limit) >= REQUIRED_BODY_LIMIT
    assert any(s.startswith("add_header Strict-Transport-Security") for s in statements)
    forwarded = [s for s in statements if s.startswith("proxy_set_header X-Forwarded-For")]
    assert forwarded
    assert all(s.split()[-1] == "$remote_addr" for s in forwarded)
    (protocols,) = [s.split()[1:] for s in statements if s.startswith("ssl_protocols ")]
    assert set(protocols) <= {"TLSv1.2", "TLSv1.3"}


def test_nginx_upstream_is_the_systemd_server_address() -> None:
    env = read_env_file(UNIT_ENV)
    expected = f"server {env['WITNESSLINK_HOST']}:{env['WITNESSLINK_PORT']}"
    assert expected in nginx_statements()


# --- settings: deploy files name only what the server reads ----------------------------

_SETTING = re.compile(r"WITNESSLINK_[A-Z0-9_]*[A-Z0-9]")


def read_env_file(path: Path) -> dict[str, str]:
    """Uncommented KEY=value lines."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=value: {line!r}"
            values[key.strip()] = value.strip()
    return values


def settings_read_by_server() -> set[str]:
    return set(_SETTING.findall((ROOT / "server" / "config.py").read_text()))


def test_server_settings_are_found_in_config_py() -> None:
    names = settings_read_by_server()
    assert {"WITNESSLINK_SECRET_KEY", "WITNESSLINK_DATABASE_URL", "WITNESSLINK_DATA_DIR"} <= names


@pytest.mark.parametrize("path", deploy_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_deploy_files_name_only_settings_the_server_reads(path: Path) -> None:
    named = set(_SETTING.findall(path.read_text()))
    unknown = named - settings_read_by_server()
    assert not unknown, f"{path.name} names settings server/config.py does not read"


def test_env_examples_only_set_settings_the_server_reads() -> None:
    for path in DEPLOY.rglob("*.env.example"):
        for key in read_env_file(path):
            if key.startswith("WITNESSLINK_"):
                assert key in settings_read_by_server(), (path.name, key)


# --- no real secrets -----------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"CHANGE_ME|example|xxxx|placeholder|\$", re.IGNORECASE)
_B64_KEY = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{43}=?(?![A-Za-z0-9+/=_-])")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,}|[A-Za-z0-9+/]{40,}={0,2}")
_ASSIGNMENT = re.compile(r"\b([A-Z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|KEY))\s*=\s*(\S*)")
_DSN_PASSWORD = re.compile(r"postgres(?:ql)?://[^:/@\s]+:([^@\s]+)@")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def secret_findings(text: str) -> list[str]:
    """Things in ``text`` that look like real credentials rather than placeholders."""
    findings = []
    for match in _B64_KEY.finditer(text):
        candidate = match.group(0)
        if _PLACEHOLDER.search(candidate):
            continue
        try:
            decoded = base64.b64decode(candidate.replace("-", "+").replace("_", "/") + "=" * 3)
        except (binascii.Error, ValueError):
            continue
        if len(decoded) == 32 and _entropy(candidate) > 4.0:
            findings.append(f"32-byte base64 key: {candidate[:6]}…")
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        classes = sum(bool(re.search(p, token)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
        if classes == 3 and _entropy(token) > 4.2 and not _PLACEHOLDER.search(token):
            findings.append(f"high-entropy token: {token[:6]}…")
    findings += [f"Twilio SID: {m[:6]}…" for m in re.findall(r"\bAC[0-9a-f]{32}\b", text)]
    findings += [f"hex token: {m[:6]}…" for m in re.findall(r"\b[0-9a-f]{32,}\b", text)]
    if re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text):
        findings.append("PEM private key")
    for name, value in _ASSIGNMENT.findall(text):
        value = value.strip("\"'")
        if value and not _PLACEHOLDER.search(value):
            findings.append(f"{name} has a value that is not a placeholder")
    for password in _DSN_PASSWORD.findall(text):
        if not _PLACEHOLDER.search(password) and password not in {"password", "PASSWORD"}:
            findings.append("database URL with a real-looking password")
    return findings


def test_secret_detector_flags_real_secrets_and_passes_placeholders() -> None:
    real_key = base64.b64encode(bytes(range(7, 39))).decode()
    assert secret_findings(f"WITNESSLINK_SECRET_KEY={real_key}")
    assert secret_findings("sk = 'Zq3xV9pLm2Tn8RbW4yKc7HdF1sJg6uAe5'")
    assert secret_findings("postgresql://witnesslink:hunter2hunter2@db:5432/witnesslink")
    assert secret_findings("TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef")
    assert not secret_findings("WITNESSLINK_SECRET_KEY=CHANGE_ME_generate_32_random_bytes_base64")
    assert not secret_findings("postgresql://witnesslink:CHANGE_ME_DB_PASSWORD@db:5432/x")
    assert not secret_findings('KEY=$(python3 -c "import secrets")')


@pytest.mark.parametrize("path", deploy_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_deploy_files_contain_no_real_secrets(path: Path) -> None:
    assert secret_findings(path.read_text()) == []


# --- the operator guide ----------------------------------------------------------------------


def readme_commands(prefix: str) -> list[list[str]]:
    """Every shell command in the README's code blocks that starts with ``prefix``."""
    text = README.read_text()
    commands = []
    for block in re.findall(r"```(?:sh|console)?\n(.*?)```", text, re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if prefix in line:
                commands.append(shlex.split(line[line.index(prefix) :], comments=True))
    return commands


def test_readme_covers_what_an_operator_needs() -> None:
    text = README.read_text()
    key_command = (
        'python -c "import base64,secrets;'
        'print(base64.b64encode(secrets.token_bytes(32)).decode())"'
    )
    for needed in (
        key_command,
        "docker compose exec app1 witnesslink admin",
        "--role admin --totp",
        "pg_dump",
        ".backup",
        "WITNESSLINK_TWILIO_ACCOUNT_SID",
        "WITNESSLINK_TWILIO_AUTH_TOKEN",
        "WITNESSLINK_TWILIO_SENDER",
        "/v1/twilio/",
        "Log hygiene",
    ):
        assert needed in text, needed
    assert "used by the sms alerting feature" in text.lower()
    # Every setting has its row in the one reference (tests/test_configuration_reference.py
    # checks that against the code); the operator guide points there.
    assert "docs/configuration.md" in text


def test_readme_admin_commands_are_valid_cli_invocations() -> None:
    commands = readme_commands("witnesslink admin ")
    assert len(commands) >= 2
    subcommands = set()
    for argv in commands:
        args = cli_parser().parse_args(argv[1:])
        subcommands.add(args.admin_command)
    assert {"create-agency", "create-staff"} <= subcommands


# --- nginx before the first certificate ------------------------------------------------

NGINX_BOOTSTRAP = DEPLOY / "nginx" / "witnesslink-bootstrap.conf"


def test_the_nginx_bootstrap_config_serves_the_acme_challenge_without_certificates() -> None:
    """``nginx -t`` fails on witnesslink.conf until the certificate files exist; the
    bootstrap config must pass without them and answer the challenge from the webroot
    that certbot and the full config use."""
    text = without_comments(NGINX_BOOTSTRAP.read_text())
    statements = [" ".join(s.split()) for s in re.split(r"[;{}]", text) if s.strip()]
    assert not [s for s in statements if s.startswith(("ssl_", "listen 443"))]
    assert "listen 80" in statements
    assert not [s for s in statements if s.startswith("proxy_pass")], "no plain-HTTP traffic"
    (challenge,) = blocks(text, r"location\s+/\.well-known/acme-challenge")
    (full_challenge,) = blocks(
        without_comments(NGINX.read_text()), r"location\s+/\.well-known/acme-challenge"
    )
    assert " ".join(challenge.split()) == " ".join(full_challenge.split())
    webroot = re.search(r"root\s+(\S+);", challenge)
    assert webroot is not None
    assert f"-w {webroot.group(1)}" in README.read_text()
    assert "witnesslink-bootstrap.conf" in README.read_text()
