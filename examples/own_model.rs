//! Embedding fleetlab's evaluator in a service with its own device model.
//!
//! The service below keeps devices in its own struct (as a database row
//! would arrive); it implements `fleetlab::rule::Record` for it and needs
//! none of fleetlab's inventory types. Rules are compiled once and shared by
//! reference across threads.
//!
//! Run: `cargo run --no-default-features --example own_model`

use std::collections::HashMap;

use fleetlab::rule::{DeviceProperty, Property, Record, Rule, RuleErrors, Scalar};

/// The service's own representation of a managed device.
struct ManagedDevice {
    object_id: String,
    os: String,
    os_version: String,
    serial: String,
    hardware_ids: Vec<String>,
    tags: HashMap<u8, String>,
}

impl Record for ManagedDevice {
    fn scalar(&self, property: &Property) -> Scalar<'_> {
        match property {
            Property::Device(DeviceProperty::ObjectId) => Scalar::Str(&self.object_id),
            Property::Device(DeviceProperty::DeviceOsType) => Scalar::Str(&self.os),
            Property::Device(DeviceProperty::DeviceOsVersion) => Scalar::Str(&self.os_version),
            Property::Device(DeviceProperty::ExtensionAttribute(slot)) => {
                Scalar::from_opt(self.tags.get(&slot.number()).map(String::as_str))
            }
            // Everything this service does not track reads as unset, as in Entra.
            _ => Scalar::Null,
        }
    }

    fn any_item(&self, property: &Property, f: &mut dyn FnMut(&str) -> bool) -> bool {
        match property {
            Property::Device(DeviceProperty::DevicePhysicalIds) => self.hardware_ids.iter().any(|id| f(id)),
            _ => false,
        }
    }
}

fn main() -> Result<(), RuleErrors> {
    let autopilot_windows = Rule::new(
        r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#,
    )?;
    let finance = Rule::new(r#"device.extensionAttribute1 -eq "Finance""#)?;

    let fleet: Vec<ManagedDevice> = (0..10)
        .map(|i| ManagedDevice {
            object_id: format!("dev-{i}"),
            os: if i % 4 == 0 { "iOS".into() } else { "Windows".into() },
            os_version: "10.0.26100.2605".into(),
            serial: format!("SN{i:05}"),
            hardware_ids: if i % 3 == 0 {
                vec![format!("[ZTDId]:{i:08x}-0000-4000-8000-000000000000")]
            } else {
                Vec::new()
            },
            tags: if i % 2 == 0 { HashMap::from([(1, "Finance".to_string())]) } else { HashMap::new() },
        })
        .collect();

    // Rules are Send + Sync: evaluate halves of the fleet on two threads.
    let (left, right) = fleet.split_at(fleet.len() / 2);
    let counts = std::thread::scope(|s| {
        let a = s.spawn(|| left.iter().filter(|d| autopilot_windows.matches(*d)).count());
        let b = s.spawn(|| right.iter().filter(|d| autopilot_windows.matches(*d)).count());
        (a.join().unwrap_or(0), b.join().unwrap_or(0))
    });
    println!("Autopilot Windows devices: {}", counts.0 + counts.1);

    for d in fleet.iter().filter(|d| finance.matches(*d)) {
        println!("finance: {} ({})", d.object_id, d.serial);
    }

    // Why is dev-1 not an Autopilot device?
    if let Some(d) = fleet.get(1) {
        print!("{}", autopilot_windows.explain(d).to_text());
    }
    Ok(())
}
