#!/usr/bin/env python3
"""vm_pool.py - put a disk image into casulo-sim as a running VM, over the wire.

Usage: vm_pool.py URL PASSWORD_FILE IMAGE VM_NAME

Uses Python's own XML-RPC client (a third-party XenAPI client, not ours) and a
plain HTTP PUT to /import_raw_vdi inside a task, as any XenAPI tool would:
VM.create, VDI.create on the shared SR with the most free space, VBD.create,
the upload, VM.start. Prints "VM_UUID VDI_UUID SR_UUID" on stdout.
int64 fields travel as strings, as XAPI sends them.
"""
import http.client
import os
import sys
import time
import urllib.parse
import xmlrpc.client


def value(answer):
    if answer.get("Status") != "Success":
        raise SystemExit(f"vm_pool.py: XenAPI error {answer.get('ErrorDescription')}")
    return answer["Value"]


def pick_sr(api, session, need):
    best = None
    for ref, sr in value(api.SR.get_all_records(session)).items():
        if sr["content_type"] == "iso" or not sr["shared"]:
            continue
        free = int(sr["physical_size"]) - int(sr["physical_utilisation"])
        if free >= need and (best is None or free > best[1]):
            best = (ref, free, sr["uuid"])
    if best is None:
        raise SystemExit(f"vm_pool.py: no shared SR with {need} bytes free")
    return best[0], best[2]


def upload(url, session, task, vdi, image):
    u = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode({"session_id": session, "task_id": task, "vdi": vdi, "format": "raw"})
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    size = os.path.getsize(image)
    conn.putrequest("PUT", "/import_raw_vdi?" + query)
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    with open(image, "rb") as f:
        while chunk := f.read(4 << 20):
            conn.send(chunk)
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200:
        raise SystemExit(f"vm_pool.py: /import_raw_vdi answered {answer.status}")


def main():
    url, password_file, image, name = sys.argv[1:5]
    api = xmlrpc.client.ServerProxy(url)
    password = open(password_file).read().strip()
    session = value(api.session.login_with_password("root", password, "1.0", "casulo-bench"))
    size = os.path.getsize(image)
    sr, sr_uuid = pick_sr(api, session, size + size // 10)
    vm = value(api.VM.create(session, {
        "name_label": name, "name_description": "casulo bench VM", "is_a_template": False,
        "memory_static_max": str(1 << 30), "memory_dynamic_max": str(1 << 30),
        "memory_dynamic_min": str(1 << 30), "memory_static_min": str(1 << 29),
        "VCPUs_max": "2", "VCPUs_at_startup": "2", "other_config": {}, "platform": {},
    }))
    vdi = value(api.VDI.create(session, {
        "name_label": name + " disk 0", "name_description": "", "SR": sr, "virtual_size": str(size),
        "type": "user", "sharable": False, "read_only": False, "other_config": {},
        "xenstore_data": {}, "sm_config": {}, "tags": [],
    }))
    value(api.VBD.create(session, {
        "VM": vm, "VDI": vdi, "userdevice": "0", "bootable": True, "mode": "RW", "type": "Disk",
        "empty": False, "unpluggable": False, "other_config": {}, "qos_algorithm_type": "",
        "qos_algorithm_params": {},
    }))
    task = value(api.task.create(session, "casulo bench upload", ""))
    upload(url, session, task, vdi, image)
    while (status := value(api.task.get_status(session, task))) == "pending":
        time.sleep(0.1)
    if status != "success":
        raise SystemExit(f"vm_pool.py: upload task {status}: {value(api.task.get_error_info(session, task))}")
    value(api.task.destroy(session, task))
    value(api.VM.start(session, vm, False, False))
    print(value(api.VM.get_uuid(session, vm)), value(api.VDI.get_uuid(session, vdi)), sr_uuid)
    api.session.logout(session)


if __name__ == "__main__":
    main()
