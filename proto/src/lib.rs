//! Generated gRPC stubs for the CDP API (`cdp.v1`): prost messages plus tonic clients and
//! servers for every service. Internal Rust services depend on this crate alone to call the
//! CDP (e.g. to redeem promotions) without pulling in the server.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use cdp_proto::cdp::v1::auth_service_client::AuthServiceClient;
//! let mut auth = AuthServiceClient::connect("http://127.0.0.1:8080").await?;
//! # let _ = &mut auth;
//! # Ok(())
//! # }
//! ```

pub mod cdp {
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        tonic::include_proto!("cdp.v1");
    }
}

/// The encoded `FileDescriptorSet` of every `cdp.v1` file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cdp_descriptor.bin"));
