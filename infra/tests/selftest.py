#!/usr/bin/env python3
"""Negative self-test of check_infra.py: copies infra/terraform into a temporary directory, breaks
each copy in one way, and requires the checks to fail naming that file and rule (and the
unbroken copy to pass). Guards against a check that silently stops checking."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_infra  # noqa: E402


def run_terraform_checks(tf_root: Path, parsed: dict[Path, dict]) -> list[check_infra.Failure]:
    report = check_infra.Report()
    mine = {path: result for path, result in parsed.items() if tf_root in path.parents}
    check_infra.terraform_checks(tf_root, tf_root.parent, mine, report)
    return report.failures


def append(path: str, text: str):
    def mutate(root: Path) -> None:
        with open(root / path, "a", encoding="utf-8") as handle:
            handle.write(text)
    return mutate


def write(path: str, text: str):
    def mutate(root: Path) -> None:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return mutate


def replace(path: str, old: str, new: str):
    def mutate(root: Path) -> None:
        text = (root / path).read_text(encoding="utf-8")
        assert old in text, f"self-test fixture out of date: {old!r} not in {path}"
        (root / path).write_text(text.replace(old, new, 1), encoding="utf-8")
    return mutate


# (what is broken, mutation, file the failure must name, rule it must name)
CASES = [
    (
        "a module uses an undeclared variable",
        append("modules/redis/main.tf", '\nlocals {\n  undeclared = var.not_declared_anywhere\n}\n'),
        "modules/redis/main.tf", "var-declared",
    ),
    (
        "a secret variable is not sensitive",
        append("modules/server/variables.tf", '\nvariable "braze_api_key" {\n  type = string\n}\n'),
        "modules/server/variables.tf", "secret-sensitive",
    ),
    (
        "a JWT literal is committed",
        append("envs/production/main.tf", '\n# eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl\n'),
        "envs/production/main.tf", "secret-literal",
    ),
    (
        "a password is assigned literally",
        replace("modules/redis/main.tf", "password            = var.password", 'password            = "hunter2hunter2"'),
        "modules/redis/main.tf", "secret-literal",
    ),
    (
        "an example tfvars holds a real-looking secret",
        replace("envs/production/terraform.tfvars.example", '"<set-with-TF_VAR_redis_password>"', '"correct-horse-battery-staple"'),
        "envs/production/terraform.tfvars.example", "secret-literal",
    ),
    (
        "an output exposes a secret unmasked",
        append("envs/production/outputs.tf", '\noutput "leak" {\n  value = local.redis_url\n}\n'),
        "envs/production/outputs.tf", "output-sensitive",
    ),
    (
        "a secret is passed to Cloud Run as a literal env value",
        replace("modules/server/main.tf", 'args  = ["serve"]', 'args  = ["serve"]\n\n      env {\n        name  = "DATABASE_URL"\n        value = var.secret_env["DATABASE_URL"]\n      }'),
        "modules/server/main.tf", "secret-by-reference",
    ),
    (
        "a secret version is stored in the state",
        replace("modules/server/main.tf", "secret_data_wo         = var.secret_env[each.key]", "secret_data            = var.secret_env[each.key]"),
        "modules/server/main.tf", "secret-write-only",
    ),
    (
        "a module call passes an undeclared argument",
        replace("envs/production/main.tf", "  worker_instances        = var.worker_instances\n", "  worker_instances        = var.worker_instances\n  no_such_input           = 1\n"),
        "envs/production/main.tf", "module-args",
    ),
    (
        "an output of a module that does not exist is used",
        replace("envs/production/outputs.tf", "module.server.server_uri", "module.server.server_url"),
        "envs/production/outputs.tf", "module-output",
    ),
    (
        "a state file is left in the tree",
        write("envs/production/terraform.tfstate", '{"version": 4}\n'),
        "envs/production/terraform.tfstate", "no-terraform-state",
    ),
    (
        "a file does not parse",
        append("modules/web/main.tf", '\nresource "vercel_project" "broken" {\n  name =\n}\n'),
        "modules/web/main.tf", "hcl-parse",
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--node-modules", type=Path, required=True)
    args = parser.parse_args()
    source = args.repo.resolve() / "infra" / "terraform"

    failed = 0
    with tempfile.TemporaryDirectory(prefix="cdp-infra-selftest-") as scratch:
        # The copy lives outside any git work tree, so the forbidden-file check looks at files.
        pristine = Path(scratch) / "pristine" / "terraform"
        shutil.copytree(source, pristine, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfvars", "*.tfplan"))
        roots = [pristine]
        for index, (_, mutate, _, _) in enumerate(CASES):
            root = Path(scratch) / f"case{index}" / "terraform"
            shutil.copytree(pristine, root)
            mutate(root)
            roots.append(root)
        # One parser process for every copy (starting the WebAssembly parser is the slow part).
        parsed = check_infra.parse_hcl([f for root in roots for f in check_infra.hcl_files(root)], args.node_modules)

        clean = run_terraform_checks(pristine, parsed)
        if clean:
            failed += 1
            print("FAIL self-test: the unbroken copy must pass, but:")
            for failure in clean:
                print(f"     {failure}")
        for (what, _, file, rule), root in zip(CASES, roots[1:]):
            failures = run_terraform_checks(root, parsed)
            named = [f for f in failures if f.rule == rule and f.file.split(":")[0].endswith(file)]
            if named:
                print(f"ok   self-test: {what} -> {named[0]}")
            else:
                failed += 1
                print(f"FAIL self-test: {what}: expected [{rule}] on {file}, got {[str(f) for f in failures] or 'no failure'}")
    total = len(CASES) + 1
    print(f"infra-selftest: {total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
