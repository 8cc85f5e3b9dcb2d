#!/usr/bin/env bash
# Generates the Python stubs (messages + grpc service stubs) of cdp.v1 into cdp_sdk/ with
# grpcio-tools from PyPI, from the same protos as every other client.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
"$python" -m grpc_tools.protoc -I "$here/../../proto" --python_out="$here/cdp_sdk" --pyi_out="$here/cdp_sdk" \
  --grpc_python_out="$here/cdp_sdk" "$here"/../../proto/cdp/v1/*.proto
# protoc emits absolute imports (`from cdp.v1 import ...`); make them package-relative.
find "$here/cdp_sdk/cdp" -name '*.py' -print0 | xargs -0 sed -i 's/^from cdp\.v1 import /from cdp_sdk.cdp.v1 import /'
touch "$here/cdp_sdk/cdp/__init__.py" "$here/cdp_sdk/cdp/v1/__init__.py"
