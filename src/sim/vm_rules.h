// Shared by the lifecycle, checkpoint, VBD and VIF methods (vm_lifecycle.cc,
// vm_checkpoint.cc, vbd_vif.cc, vdi_ops.cc): XAPI's VM operation checks and
// the helpers every constructor needs. Private to src/sim.
#pragma once

#include <string>
#include <string_view>

#include "sim/sim.h"

namespace casulo::sim {

// "Running" -> "running", as Record_util.vm_power_state_to_lowercase_string.
std::string LowerState(std::string_view power);

// The string value of a field of `rec` ("" when absent or not a string).
const std::string& StrField(const XmlRpcValue& rec, std::string_view field);
bool BoolField(const XmlRpcValue& rec, std::string_view field);
int64_t IntField(const XmlRpcValue& rec, std::string_view field);

// API_version_major * 100 + minor of the host this endpoint plays (0 when
// unknown): 203 = XenServer 6.5, 206 = 7.1, 214 = CH 8.1, 215 = CH 8.2.
int ApiVersion(const Store& st);

// XAPI's Xapi_vm_lifecycle.check_operation_error for `op` (a vm_operations
// name) on `vm`, in XAPI's order: blocked_operations (OPERATION_BLOCKED
// [vm, reason]), power state (VM_BAD_POWER_STATE [vm, expected, actual]),
// current_operations (OTHER_OPERATION_IN_PROGRESS ["VM", vm, op, task]),
// template (VM_IS_TEMPLATE [vm, op]), snapshot (VM_IS_SNAPSHOT [vm, op]),
// control domain. HANDLE_INVALID ["VM", vm] when absent. Not modelled: PV
// driver, PCI, vGPU, appliance and NUMA constraints.
Status CheckVmOperation(const Store& st, const std::string& vm, std::string_view op);

// Recomputes VM.allowed_operations from CheckVmOperation, as XAPI does after
// every VM operation (Xapi_vm_lifecycle.update_allowed_operations).
void UpdateVmAllowedOperations(Store& st, const std::string& vm);

// The disk number a userdevice or device name stands for ("2", "xvdc",
// "hdc", "sdc"), or -1 (X:ocaml/xapi/xapi_vm_helpers.ml
// possible_VBD_devices_of_string, without partitions).
int DiskNumber(const std::string& s);
// The device name a started domain gives a disk number: "xvda", "xvdb"...
std::string DeviceName(const std::string& userdevice);

// The MAC XAPI generates for VIF `device` of a VM with this mac_seed
// (vbd_vif.cc; xapi_vif_helpers.ml gen_mac).
std::string GenMac(int device, const std::string& seed);

// A constructor's record argument (VM.create, VDI.create, ...) laid over the
// class defaults: fields the schema knows are converted to its wire types
// (FIELD_TYPE_ERROR [field] otherwise), unknown fields are dropped, missing
// ones keep their defaults. FIELD_TYPE_ERROR ["record"] if not a struct.
Result<XmlRpcStruct> RecordArg(std::string_view cls, const XmlRpcValue& arg);

// Sets `field` of a struct built by RecordArg.
void SetIn(XmlRpcStruct& rec, std::string_view field, XmlRpcValue v);
const XmlRpcValue* FindIn(const XmlRpcStruct& rec, std::string_view field);

}  // namespace casulo::sim
