//! The documentation stays true to the code: every RPC of the compiled contract has its row in
//! docs/api-spec.md, and every environment variable the configuration reads is documented in
//! .env.example and the runbook.

use prost::Message;
use std::path::Path;

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn every_rpc_of_the_contract_has_a_row_in_the_api_spec() {
    let spec = read("docs/api-spec.md");
    let set = prost_types::FileDescriptorSet::decode(cdp_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut missing = Vec::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                let row = format!("| {}.{} |", service.name(), method.name());
                if !spec.contains(&row) {
                    missing.push(row);
                }
            }
        }
    }
    assert!(missing.is_empty(), "docs/api-spec.md lacks rows: {missing:?}");
}

/// The environment variables the configuration reads: every string literal in config.rs that
/// looks like one (the configuration is the only reader of the environment).
fn config_variables() -> Vec<String> {
    let source = read("server/src/config.rs");
    let mut names: Vec<String> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.len() > 3 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_') && s.contains('_'))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_configuration_variable_is_in_env_example_and_the_runbook() {
    let variables = config_variables();
    assert!(variables.len() >= 25, "found {variables:?}");
    let example = read(".env.example");
    let runbook = read("docs/runbook.md");
    let undocumented: Vec<&String> = variables.iter().filter(|v| !example.contains(&format!("\n{v}="))).collect();
    assert!(undocumented.is_empty(), ".env.example lacks {undocumented:?}");
    let not_in_runbook: Vec<&String> = variables.iter().filter(|v| !runbook.contains(v.as_str())).collect();
    assert!(not_in_runbook.is_empty(), "docs/runbook.md lacks {not_in_runbook:?}");
}
