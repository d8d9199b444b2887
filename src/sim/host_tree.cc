// The simulated dom0 root file system of a host (sim/host_backup.h): small,
// but shaped like an XCP-ng / XenServer dom0 where host-backup looks, with
// the entries its exclusions are about.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "core/file.h"
#include "sim/disks.h"
#include "sim/host_backup.h"

namespace casulo::sim {
namespace {

struct TreeWriter {
  std::string root;
  Status File(const std::string& rel, std::string_view content, mode_t mode = 0644) {
    std::string path = root + "/" + rel;
    RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/'))));
    RETURN_IF_ERROR(WriteFileAtomic(path, AsBytes(content), mode));
    if (chmod(path.c_str(), mode) != 0) return ErrnoStatus(errno, "chmod", path);  // past the umask
    return OkStatus();
  }
  Status Dir(const std::string& rel, mode_t mode = 0755) {
    std::string path = root + "/" + rel;
    RETURN_IF_ERROR(MakeDirs(path));
    if (chmod(path.c_str(), mode) != 0) return ErrnoStatus(errno, "chmod", path);
    return OkStatus();
  }
  Status Link(const std::string& rel, const std::string& target) {
    std::string path = root + "/" + rel;
    if (symlink(target.c_str(), path.c_str()) != 0) return ErrnoStatus(errno, "symlink", path);
    return OkStatus();
  }
  // A file of `size` bytes with `chunk` bytes of data at each offset, the
  // rest holes (a kernel image here: what --sparse is for).
  Status Sparse(const std::string& rel, uint64_t size, std::initializer_list<uint64_t> offsets,
                size_t chunk, uint64_t seed) {
    std::string path = root + "/" + rel;
    RETURN_IF_ERROR(CreateDisk(path, size));
    ASSIGN_OR_RETURN(casulo::File f, casulo::File::Open(path, O_WRONLY));
    std::mt19937_64 rng(seed);
    Bytes data(chunk);
    for (uint64_t off : offsets) {
      for (auto& b : data) b = uint8_t(rng() % 64 + 32);  // text-like: compresses a little
      RETURN_IF_ERROR(f.PWrite(off, data));
    }
    return f.Close();
  }
};

Status Build(TreeWriter& w, const HostFacts& h) {
  std::string disk = "/dev/disk/by-id/scsi-36001405" + h.uuid.substr(0, 8);
  RETURN_IF_ERROR(w.File(
      "etc/xensource-inventory",
      fmt::format("PRIMARY_DISK='{0}'\nBACKUP_PARTITION='{0}-part2'\nINSTALLATION_UUID='{1}'\n"
                  "CONTROL_DOMAIN_UUID='{2}'\nMANAGEMENT_INTERFACE='xapi1'\nMANAGEMENT_ADDRESS_TYPE='IPv4'\n"
                  "PRODUCT_BRAND='{3}'\nPRODUCT_VERSION='{4}'\nPRODUCT_VERSION_TEXT='{5}'\n"
                  "PLATFORM_VERSION='{6}'\nBUILD_NUMBER='{7}'\nDOM0_MEM='4096'\nDOM0_VCPUS='4'\n"
                  "INSTALLATION_DATE='2024-05-02 09:14:07.000000'\nXEN_VERSION='4.13.5'\n"
                  "KERNEL_VERSION='4.19.0+1'\n",
                  disk, h.uuid, h.dom0_uuid, h.product_brand, h.product_version,
                  h.product_version.substr(0, h.product_version.rfind('.')), h.platform_version,
                  h.build_number)));
  RETURN_IF_ERROR(w.File("etc/hostname", h.name + "\n"));
  RETURN_IF_ERROR(w.File("etc/hosts", fmt::format("127.0.0.1 localhost\n{} {}\n", h.address, h.name)));
  RETURN_IF_ERROR(w.File("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nchrony:x:998:996::/var/lib/chrony:/sbin/nologin\n"));
  RETURN_IF_ERROR(w.File("etc/shadow", "root:$6$sim$notarealhash:19845:0:99999:7:::\nchrony:!!:19845::::::\n", 0400));
  for (const auto& n : h.nics) {
    std::string text = fmt::format("DEVICE={}\nONBOOT=no\nHWADDR={}\n", n.device, n.mac);
    if (!n.ip.empty())
      text += fmt::format("BOOTPROTO=none\nIPADDR={}\nNETMASK={}\n{}", n.ip, n.netmask,
                          n.gateway.empty() ? "" : "GATEWAY=" + n.gateway + "\n");
    RETURN_IF_ERROR(w.File("etc/sysconfig/network-scripts/ifcfg-" + n.device, text));
  }
  RETURN_IF_ERROR(w.File("etc/xensource/pool.conf",
                         h.master_address.empty() ? "master" : "slave:" + h.master_address));
  RETURN_IF_ERROR(w.File("etc/xensource/ptoken", h.uuid.substr(24) + "-sim-pool-token\n", 0640));
  RETURN_IF_ERROR(w.File("etc/xensource/network.conf", "bridge\n"));
  RETURN_IF_ERROR(w.File("etc/firstboot.d/state/10-prepare-storage", "", 0644));
  RETURN_IF_ERROR(w.File("root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIsim admin@casulo\n", 0600));
  RETURN_IF_ERROR(w.Dir("root/.ssh", 0700));
  RETURN_IF_ERROR(w.Dir("root", 0700));
  RETURN_IF_ERROR(w.File("opt/xensource/libexec/host-backup", "#!/bin/bash\n# simulated\nexit 0\n", 0755));
  RETURN_IF_ERROR(w.File("var/xapi/state.db", "<database><manifest/></database>\n", 0600));
  RETURN_IF_ERROR(w.File("var/xapi/" + h.uuid + "/vm-console.log", "boot ok\n"));  // UUID-named: excluded
  RETURN_IF_ERROR(w.File("var/log/messages", "Jan  1 00:00:00 " + h.name + " xapi: started\n", 0600));
  RETURN_IF_ERROR(w.File("var/log/audit.log", "type=DAEMON_START msg=audit: simulated\n", 0600));
  RETURN_IF_ERROR(w.File("var/crash/vmcore-dmesg.txt", "no crash\n"));
  RETURN_IF_ERROR(w.File("var/xsconfig/config.json", "{}\n"));
  RETURN_IF_ERROR(w.File("var/lib/chrony/drift", "-12.345 0.678\n"));
  if (geteuid() == 0) (void)lchown((w.root + "/var/lib/chrony/drift").c_str(), 998, 996);
  RETURN_IF_ERROR(w.Dir("var/backup", 0700));
  RETURN_IF_ERROR(w.File("tmp/xapi-upload.tmp", "partial\n"));
  RETURN_IF_ERROR(w.Dir("tmp", 01777));
  RETURN_IF_ERROR(w.Dir("boot"));
  RETURN_IF_ERROR(w.Sparse("boot/vmlinuz-4.19.0+1", 4 << 20, {0, 3 << 20}, 64 << 10, 1));
  RETURN_IF_ERROR(w.Link("boot/vmlinuz", "vmlinuz-4.19.0+1"));
  RETURN_IF_ERROR(w.File("boot/xen-4.13.5.gz", std::string(4096, 'x')));
  RETURN_IF_ERROR(w.Link("boot/xen.gz", "xen-4.13.5.gz"));
  RETURN_IF_ERROR(w.File("boot/efi/EFI/xenserver/grub.cfg",
                         "menuentry 'XCP-ng' {\n  multiboot2 /boot/xen.gz\n}\n", 0700));
  return OkStatus();
}

}  // namespace

std::string BackupPartitionPath(const std::string& state_dir, std::string_view host_uuid) {
  return state_dir + "/hosts/" + std::string(host_uuid) + "/backup-partition";
}

Result<std::string> EnsureHostRoot(const std::string& state_dir, const HostFacts& host) {
  std::string dir = state_dir + "/hosts/" + host.uuid;
  std::string root = dir + "/root";
  ASSIGN_OR_RETURN(bool exists, PathExists(root));
  if (exists) return root;
  // Built aside and renamed, so a half-made tree is never taken as done.
  std::string tmp = dir + "/root.new";
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  TreeWriter w{tmp};
  RETURN_IF_ERROR(MakeDirs(tmp));
  RETURN_IF_ERROR(Build(w, host));
  if (rename(tmp.c_str(), root.c_str()) != 0) return ErrnoStatus(errno, "rename", tmp);
  return root;
}

}  // namespace casulo::sim
