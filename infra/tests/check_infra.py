#!/usr/bin/env python3
"""Static checks of the infrastructure code: Terraform under infra/terraform, the production
Dockerfile and .dockerignore. No Terraform binary can be had on these machines, so the HCL is
parsed with HashiCorp's HCL parser (@cdktf/hcl2json, through hcl2json.cjs) and checked here;
`terraform validate` / `plan` are documented in docs/deploy.md for a machine that has Terraform.

Every failure names the file and the rule. Run through infra/tests/check.sh, which installs the
pinned tools into the cache directory first.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# --- Findings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    file: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"FAIL {self.file}: [{self.rule}] {self.message}"


@dataclass
class Report:
    checks: list[tuple[str, list[Failure]]] = field(default_factory=list)

    def add(self, name: str, failures: list[Failure]) -> None:
        self.checks.append((name, failures))

    @property
    def failures(self) -> list[Failure]:
        return [f for _, fs in self.checks for f in fs]


# --- HCL -----------------------------------------------------------------------------------------

HCL_SUFFIXES = (".tf", ".tfvars.example", ".hcl.example")


def hcl_files(tf_root: Path) -> list[Path]:
    return sorted(
        p for p in tf_root.rglob("*")
        if p.is_file() and p.name.endswith(HCL_SUFFIXES) and ".terraform" not in p.parts
    )


BRIDGE = Path(__file__).resolve().parent / "hcl2json.cjs"


def parse_hcl(files: list[Path], node_modules: Path, bridge: Path = BRIDGE) -> dict[Path, dict]:
    """Returns {file: {"json": ...} | {"error": ...}} from one node process."""
    if not files:
        return {}
    out = subprocess.run(
        ["node", str(bridge), str(node_modules), *map(str, files)],
        check=True, capture_output=True, text=True,
    )
    raw = json.loads(out.stdout)
    return {Path(name): result for name, result in raw.items()}


def check_parse(parsed: dict[Path, dict], rel) -> list[Failure]:
    return [
        Failure(rel(path), "hcl-parse", result["error"])
        for path, result in parsed.items() if "error" in result
    ]


# --- Terraform modules -------------------------------------------------------------------------

SECRET_TOKENS = {
    "secret", "secrets", "key", "keys", "password", "passwords", "passwd", "token", "tokens",
    "dsn", "credential", "credentials",
}
# A last word that names a property of a secret rather than the secret itself:
# min_password_length, access_token_ttl_seconds, secret_ids, api_key_name...
METADATA_SUFFIXES = {
    "length", "len", "ttl", "seconds", "secs", "expiry", "version", "versions", "counter", "count",
    "id", "ids", "name", "names", "enabled",
}
META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
REF_VAR = re.compile(r"(?<![\w.])var\.([A-Za-z_][A-Za-z0-9_-]*)")
REF_MODULE_OUTPUT = re.compile(r"(?<![\w.])module\.([A-Za-z_][A-Za-z0-9_-]*)(?:\[[^\]]*\]|\[\*\])?\.([A-Za-z_][A-Za-z0-9_-]*)")
REF_LOCAL = re.compile(r"(?<![\w.])local\.([A-Za-z_][A-Za-z0-9_-]*)")


def secret_like(name: str) -> bool:
    """A name that suggests a secret: secret, key, password, token, dsn, database_url..."""
    words = re.split(r"[_\-]", name.lower())
    if words[-1] in METADATA_SUFFIXES:
        return False
    return "database_url" in name.lower() or bool(SECRET_TOKENS & set(words))


def expressions(node) -> list[str]:
    """Every expression string (hcl2json renders expressions as "${...}") in a parsed node."""
    found: list[str] = []
    if isinstance(node, str):
        if "${" in node:
            found.append(node)
    elif isinstance(node, list):
        for item in node:
            found.extend(expressions(item))
    elif isinstance(node, dict):
        for value in node.values():
            found.extend(expressions(value))
    return found


def refs(node, pattern: re.Pattern) -> set[str]:
    return {m for text in expressions(node) for m in pattern.findall(text)}


@dataclass
class Module:
    """One Terraform module: the .tf files of one directory."""

    directory: Path
    files: dict[Path, dict]  # file -> parsed JSON

    def blocks(self, kind: str):
        """Yields (file, label, body) of top-level blocks of one kind (variable, output, module...)."""
        for path, doc in self.files.items():
            for label, bodies in (doc.get(kind) or {}).items():
                for body in bodies:
                    yield path, label, body

    def variables(self) -> dict[str, tuple[Path, dict]]:
        return {label: (path, body) for path, label, body in self.blocks("variable")}

    def locals(self) -> dict[str, tuple[Path, object]]:
        result = {}
        for path, doc in self.files.items():
            for block in doc.get("locals") or []:
                for name, value in block.items():
                    result[name] = (path, value)
        return result

    def resources(self):
        """Yields (file, "type.name", body) of resources and data sources."""
        for kind in ("resource", "data"):
            for path, doc in self.files.items():
                for rtype, named in (doc.get(kind) or {}).items():
                    for name, bodies in named.items():
                        for body in bodies:
                            yield path, f"{'data.' if kind == 'data' else ''}{rtype}.{name}", body

    def sensitive_names(self) -> tuple[set[str], set[str]]:
        """Sensitive variables, and the locals that (transitively) derive from them."""
        variables = {name for name, (_, body) in self.variables().items() if body.get("sensitive") is True}
        local_defs = self.locals()
        sensitive_locals: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, (_, value) in local_defs.items():
                if name in sensitive_locals:
                    continue
                # nonsensitive(...) declassifies on purpose (e.g. the names of secrets, never their values).
                if any("nonsensitive(" in text for text in expressions(value)):
                    continue
                if refs(value, REF_VAR) & variables or refs(value, REF_LOCAL) & sensitive_locals:
                    sensitive_locals.add(name)
                    changed = True
        return variables, sensitive_locals

    def references_sensitive(self, node) -> bool:
        variables, local_names = self.sensitive_names()
        return bool(refs(node, REF_VAR) & variables or refs(node, REF_LOCAL) & local_names)


def load_modules(parsed: dict[Path, dict]) -> dict[Path, Module]:
    modules: dict[Path, Module] = {}
    for path, result in parsed.items():
        if path.suffix == ".tf" and "json" in result:
            modules.setdefault(path.parent, Module(path.parent, {})).files[path] = result["json"]
    return modules


def check_variables_declared(modules: dict[Path, Module], rel) -> list[Failure]:
    failures = []
    for module in modules.values():
        declared = set(module.variables())
        for path, doc in module.files.items():
            for name in sorted(refs(doc, REF_VAR) - declared):
                failures.append(Failure(rel(path), "var-declared", f"var.{name} is used but not declared in {rel(module.directory)}"))
            for name in sorted(refs(doc, REF_LOCAL) - set(module.locals())):
                failures.append(Failure(rel(path), "local-declared", f"local.{name} is used but not defined in {rel(module.directory)}"))
    return failures


def check_secret_variables_sensitive(modules: dict[Path, Module], rel) -> list[Failure]:
    return [
        Failure(rel(path), "secret-sensitive", f'variable "{name}" looks like a secret and must set sensitive = true')
        for module in modules.values()
        for name, (path, body) in sorted(module.variables().items())
        if secret_like(name) and body.get("sensitive") is not True
    ]


def check_outputs_masked(modules: dict[Path, Module], rel) -> list[Failure]:
    failures = []
    for module in modules.values():
        for path, name, body in module.blocks("output"):
            if body.get("sensitive") is True:
                continue
            if module.references_sensitive(body.get("value")):
                failures.append(Failure(rel(path), "output-sensitive", f'output "{name}" exposes a sensitive value and must set sensitive = true'))
    return failures


def env_blocks(node):
    """Yields (env block body, its dynamic for_each or None) of every `env` block in a resource,
    the content of dynamic "env" blocks included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                yield from ((v, None) for v in value if isinstance(v, dict))
            elif key == "dynamic" and isinstance(value, dict):
                for name, dynamics in value.items():
                    for dynamic in dynamics:
                        for content in dynamic.get("content") or []:
                            if name == "env":
                                yield content, dynamic.get("for_each")
                            else:
                                yield from env_blocks(content)
            else:
                yield from env_blocks(value)
    elif isinstance(node, list):
        for item in node:
            yield from env_blocks(item)


def check_secrets_by_reference(modules: dict[Path, Module], rel) -> list[Failure]:
    """Secrets reach containers as secret references and Secret Manager as write-only data."""
    failures = []
    for module in modules.values():
        for path, address, body in module.resources():
            for env, for_each in env_blocks(body):
                if "value" in env and (module.references_sensitive(env["value"]) or module.references_sensitive(for_each)):
                    failures.append(Failure(rel(path), "secret-by-reference", f"{address}: an env value comes from a sensitive input; pass it as value_source.secret_key_ref"))
            if address.startswith("google_secret_manager_secret_version.") and "secret_data" in body:
                failures.append(Failure(rel(path), "secret-write-only", f"{address}: secret_data is stored in the state; use secret_data_wo"))
    return failures


def check_module_calls(modules: dict[Path, Module], rel) -> list[Failure]:
    """Arguments of local module calls are declared variables of the callee, required ones are
    passed, sensitive values only go into sensitive variables, and module.x.y names an output."""
    failures = []
    for module in modules.values():
        callees = {}
        for path, name, body in module.blocks("module"):
            source = body.get("source", "")
            if isinstance(source, str) and source.startswith(("./", "../")):
                target = (module.directory / source).resolve()
                callees[name] = next((m for d, m in modules.items() if d.resolve() == target), None)
        for path, doc in module.files.items():
            for call, output in sorted(refs(doc, REF_MODULE_OUTPUT)):
                callee = callees.get(call)
                if callee is not None and output not in {label for _, label, _ in callee.blocks("output")}:
                    failures.append(Failure(rel(path), "module-output", f"module.{call}.{output}: {rel(callee.directory)} has no output {output}"))
        for path, name, body in module.blocks("module"):
            source = body.get("source", "")
            if not isinstance(source, str) or not source.startswith(("./", "../")):
                continue
            target = (module.directory / source).resolve()
            callee = next((m for d, m in modules.items() if d.resolve() == target), None)
            if callee is None:
                failures.append(Failure(rel(path), "module-source", f'module "{name}": no Terraform module at {source}'))
                continue
            declared = callee.variables()
            for arg, value in body.items():
                if arg in META_ARGUMENTS:
                    continue
                if arg not in declared:
                    failures.append(Failure(rel(path), "module-args", f'module "{name}": argument {arg} is not a variable of {rel(callee.directory)}'))
                elif module.references_sensitive(value) and declared[arg][1].get("sensitive") is not True:
                    failures.append(Failure(rel(path), "module-sensitive-input", f'module "{name}": {arg} receives a sensitive value but is not sensitive in {rel(callee.directory)}'))
            for var_name, (_, var_body) in sorted(declared.items()):
                if "default" not in var_body and var_name not in body:
                    failures.append(Failure(rel(path), "module-args", f'module "{name}": required variable {var_name} of {rel(callee.directory)} is not passed'))
    return failures


# --- Secret literals ---------------------------------------------------------------------------

SECRET_PATTERNS = [
    ("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
    ("live payment key", re.compile(r"\b[sr]k_live_?[A-Za-z0-9]*")),
    ("private key block", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("Supabase secret key", re.compile(r"\bsb_secret_[A-Za-z0-9_-]{8,}")),
    ("AWS access key id", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    # user:password@ in a URL, unless the password is an interpolation or a <placeholder>.
    ("password in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@\"'$<>{}]+:[^/\s@\"'$<>{}]+@")),
]
# Attributes whose literal value would be a credential.
SECRET_ATTRIBUTE = re.compile(r"(password|passwd|secret|token|api_key|secret_key|private_key|service_role_key|anon_key|database_url|dsn)$", re.I)
PLACEHOLDER = re.compile(r"^(|<[^<>]+>)$")


def literal_attributes(node, path=()):
    """Yields (attribute path, literal string) of every non-expression string attribute."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and "${" not in value:
                yield (*path, key), value
            else:
                yield from literal_attributes(value, (*path, key))
    elif isinstance(node, list):
        for item in node:
            yield from literal_attributes(item, path)


def check_secret_literals(tf_root: Path, parsed: dict[Path, dict], rel) -> list[Failure]:
    failures = []
    for path in sorted(p for p in tf_root.rglob("*") if p.is_file() and ".terraform" not in p.parts):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for label, pattern in SECRET_PATTERNS:
                if pattern.search(line):
                    failures.append(Failure(f"{rel(path)}:{number}", "secret-literal", f"looks like a {label}"))
    for path, result in parsed.items():
        for attr_path, value in literal_attributes(result.get("json") or {}):
            name = attr_path[-1]
            # Inside a variable block only `default` carries a value (its name is the block's label).
            if attr_path[0] == "variable":
                if name != "default" or len(attr_path) != 3 or not secret_like(attr_path[1]):
                    continue
            elif not SECRET_ATTRIBUTE.search(name):
                continue
            if not PLACEHOLDER.match(value):
                failures.append(Failure(rel(path), "secret-literal", f"{'.'.join(attr_path)} has a literal value; secrets come from TF_VAR_* or a git-ignored tfvars"))
    return failures


# --- Files that must never be committed ----------------------------------------------------------

FORBIDDEN = ["*.tfstate", "*.tfstate.*", "*.tfplan", "*.tfvars", "*.tfvars.json", "crash.log", "backend.hcl", ".terraform.tfstate.lock.info"]
REQUIRED_IGNORES = ["*.tfstate", "*.tfstate.*", ".terraform/", "*.tfvars", "!*.tfvars.example"]


def candidate_files(tf_root: Path, repo: Path) -> list[Path]:
    """Files git would commit under tf_root (tracked, or untracked and not ignored); every file
    when tf_root is not in a git work tree."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "ls-files", "--cached", "--others", "--exclude-standard", "--", str(tf_root)],
            check=True, capture_output=True, text=True,
        ).stdout
        return [repo / line for line in out.splitlines() if line]
    except (subprocess.CalledProcessError, FileNotFoundError):
        return [p for p in tf_root.rglob("*") if p.is_file()]


def check_forbidden_files(tf_root: Path, repo: Path, rel) -> list[Failure]:
    failures = []
    for path in candidate_files(tf_root, repo):
        if ".terraform" in path.relative_to(tf_root).parts:
            failures.append(Failure(rel(path), "no-terraform-state", "a .terraform/ working directory must not be committed"))
        elif any(fnmatch.fnmatch(path.name, pattern) for pattern in FORBIDDEN):
            failures.append(Failure(rel(path), "no-terraform-state", "state, plans and tfvars with values must not be committed (only *.tfvars.example)"))
    ignore = tf_root / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    for pattern in REQUIRED_IGNORES:
        if pattern not in lines:
            failures.append(Failure(rel(ignore), "gitignore", f"must list {pattern}"))
    for env in sorted(p for p in (tf_root / "envs").glob("*") if p.is_dir()):
        if not (env / "terraform.tfvars.example").exists():
            failures.append(Failure(rel(env), "tfvars-example", "each environment ships a terraform.tfvars.example with placeholders"))
    return failures


# --- Dockerfile ----------------------------------------------------------------------------------


def check_dockerfile_lint(dockerfile: Path, hadolint: Path, rel) -> list[Failure]:
    result = subprocess.run([str(hadolint), "--no-color", str(dockerfile)], capture_output=True, text=True)
    if result.returncode == 0:
        return []
    lines = (result.stdout + result.stderr).strip().splitlines() or [f"hadolint exited {result.returncode}"]
    return [Failure(rel(dockerfile), "hadolint", line) for line in lines]


def check_dockerfile_shape(dockerfile: Path, dockerignore: Path, rel) -> list[Failure]:
    """What the production image promises (docs/deploy.md), beyond what hadolint knows."""
    failures = []
    text = dockerfile.read_text()
    stages = re.split(r"(?im)^FROM\s", text)
    final = stages[-1] if len(stages) > 1 else ""

    def need(condition: bool, message: str) -> None:
        if not condition:
            failures.append(Failure(rel(dockerfile), "dockerfile-shape", message))

    need(len(stages) >= 4, "multi-stage: a Rust builder, a web client build and a small runtime stage")
    need(re.search(r"cargo build[^\n]*--release[^\n]*--locked|cargo build[^\n]*--locked[^\n]*--release", text) is not None,
         "cdp is built with cargo build --release --locked")
    users = re.findall(r"(?im)^USER\s+(\S+)", final)
    need(bool(users) and users[-1].split(":")[0] not in ("root", "0"), "the runtime stage runs as a non-root USER")
    need(re.search(r'(?im)^ENTRYPOINT\s+\[\s*"cdp"\s*\]', final) is not None, 'ENTRYPOINT ["cdp"]')
    need(re.search(r'(?im)^CMD\s+\[\s*"serve"\s*\]', final) is not None, 'CMD ["serve"]')
    need(re.search(r"(?im)^EXPOSE\s+8080\b", final) is not None, "EXPOSE 8080")
    need("CDP_LISTEN_ADDR=0.0.0.0:8080" in final, "ENV CDP_LISTEN_ADDR=0.0.0.0:8080 in the runtime stage")
    need(re.search(r"CDP_WEB_DIST_DIR=\S+", final) is not None, "ENV CDP_WEB_DIST_DIR in the runtime stage")
    need("/usr/local/bin/cdp" in final, "the runtime stage has /usr/local/bin/cdp")
    for image in re.findall(r"(?im)^(?:ARG\s+\w+_IMAGE=|FROM\s+)(\S+)", text):
        if image.startswith("$") or image.lower() in ("scratch",) or re.match(r"^[a-z0-9_-]+$", image):
            continue  # a build argument or an earlier stage
        need(":" in image.split("/")[-1] or "@sha256:" in image, f"base image {image} pins a tag or digest")
        need(not image.endswith(":latest"), f"base image {image} must not use :latest")

    # cargo loads every workspace member's manifest, so each one must be in the build context.
    cargo_toml = dockerfile.parent / "Cargo.toml"
    if cargo_toml.exists():
        import tomllib
        members = tomllib.loads(cargo_toml.read_text()).get("workspace", {}).get("members", [])
        for member in members:
            need(re.search(rf"(?im)^COPY\s+(?:\S+\s+)*{re.escape(member)}/?\s", text) is not None,
                 f"workspace member {member} is copied into the builder stage (COPY {member} ./{member})")

    ignored = set(dockerignore.read_text().split()) if dockerignore.exists() else set()
    for entry in (".git", ".env", "target", "**/node_modules"):
        if entry not in ignored:
            failures.append(Failure(rel(dockerignore), "dockerignore", f"must exclude {entry} from the build context"))
    return failures


# --- Driver --------------------------------------------------------------------------------------


def terraform_checks(tf_root: Path, repo: Path, parsed: dict[Path, dict], report: Report) -> None:
    """The Terraform checks over `parsed` (parse_hcl of hcl_files(tf_root))."""
    def rel(path: Path) -> str:
        try:
            return str(Path(path).resolve().relative_to(repo.resolve()))
        except ValueError:
            return str(path)

    modules = load_modules(parsed)
    report.add(f"HCL parses ({len(parsed)} files)", check_parse(parsed, rel))
    report.add("every var.x and local.x is declared in its module", check_variables_declared(modules, rel))
    report.add("module calls pass declared, required and sensitive variables", check_module_calls(modules, rel))
    report.add("secret-looking variables are sensitive", check_secret_variables_sensitive(modules, rel))
    report.add("no output exposes a sensitive value unmasked", check_outputs_masked(modules, rel))
    report.add("secrets reach services by reference, Secret Manager write-only", check_secrets_by_reference(modules, rel))
    report.add("no secret-looking literal under infra/terraform", check_secret_literals(tf_root, parsed, rel))
    report.add("no state, plan or tfvars with values committed", check_forbidden_files(tf_root, repo, rel))


def docker_checks(repo: Path, hadolint: Path, report: Report) -> None:
    def rel(path: Path) -> str:
        return str(Path(path).relative_to(repo))

    dockerfile, dockerignore = repo / "Dockerfile", repo / ".dockerignore"
    if not dockerfile.exists():
        report.add("Dockerfile exists", [Failure("Dockerfile", "dockerfile", "missing")])
        return
    report.add("Dockerfile passes hadolint", check_dockerfile_lint(dockerfile, hadolint, rel))
    report.add("Dockerfile: multi-stage, --locked, non-root, cdp entrypoint", check_dockerfile_shape(dockerfile, dockerignore, rel))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--tf-root", type=Path, help="default: <repo>/infra/terraform")
    parser.add_argument("--node-modules", type=Path, required=True)
    parser.add_argument("--hadolint", type=Path, help="skip the Dockerfile checks when absent")
    args = parser.parse_args()
    repo = args.repo.resolve()
    tf_root = (args.tf_root or repo / "infra" / "terraform").resolve()
    report = Report()
    terraform_checks(tf_root, repo, parse_hcl(hcl_files(tf_root), args.node_modules), report)
    if args.hadolint:
        docker_checks(repo, args.hadolint, report)

    for name, failures in report.checks:
        print(f"{'ok  ' if not failures else 'FAIL'} {name}")
        for failure in failures:
            print(f"     {failure}")
    failed = sum(1 for _, fs in report.checks if fs)
    print(f"infra: {len(report.checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
