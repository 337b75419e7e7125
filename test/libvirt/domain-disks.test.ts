// Proves the domain XML chain parser: it reads the backing chains and mirrors libvirt writes (the test driver's own live XML, and the shape the simulator serves), skips media without chains, and refuses what a safe parser must refuse (DOCTYPE, entities, unbalanced or too deep documents).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { diskChain, diskChains } from "../../agent/domain-disks.js";
import { LibvirtConnection } from "../../agent/libvirt/index.js";
import { parseXml, XmlError, xmlDepthMax } from "../../common/xml.js";
import { liveDomainXml } from "./domain-xml.js";

const uuid = "11111111-2222-4333-8444-555555555555";

describe("disk chains from the domain XML", () => {
  let libvirt: LibvirtConnection;

  before(async () => {
    libvirt = await LibvirtConnection.open("test:///default");
  });
  after(() => libvirt.close());

  it("reads the chain libvirt's test driver returns for a running domain, and leaves the cdrom out", async () => {
    await libvirt.defineDomain(`<domain type='test'><name>chain1</name><uuid>${uuid}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
      <os><type arch='x86_64'>hvm</type></os>
      <devices>
        <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/a &amp; b/top.qcow2'/>
          <backingStore type='file'><format type='qcow2'/><source file='/img/mid.qcow2'/>
            <backingStore type='file'><format type='qcow2'/><source file='/img/base.qcow2'/><backingStore/></backingStore>
          </backingStore>
          <target dev='vda' bus='virtio'/></disk>
        <disk type='block' device='disk'><source dev='/dev/vg0/data'/><target dev='vdb' bus='virtio'/></disk>
        <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
      </devices></domain>`);
    await libvirt.startDomain(uuid);
    const xml = await libvirt.getDomainXml(uuid);
    assert.deepEqual(
      diskChains(xml).map(({ target, files, mirror }) => ({ target, files, mirror })),
      [
        { target: "vda", files: ["/img/a & b/top.qcow2", "/img/mid.qcow2", "/img/base.qcow2"], mirror: null },
        { target: "vdb", files: ["/dev/vg0/data"], mirror: null },
      ],
    );
    assert.equal(diskChain(xml, "hdc"), null);
  });

  it("reads a running job's mirror and network images", () => {
    const xml = liveDomainXml({ name: "web1", uuid, disks: [{ target: "vda", chain: ["/img/top.qcow2", "/img/base.qcow2"], mirror: { job: "active-commit", file: "/img/base.qcow2", ready: true } }] });
    assert.deepEqual(diskChain(xml, "vda"), { target: "vda", files: ["/img/top.qcow2", "/img/base.qcow2"], mirror: { job: "active-commit", file: "/img/base.qcow2" } });
    const network = `<domain><devices><disk type='network' device='disk'><source protocol='rbd' name='pool/web1'/><target dev='sda'/></disk></devices></domain>`;
    assert.deepEqual(diskChain(network, "sda")?.files, ["rbd:pool/web1"]);
  });

  it("refuses DOCTYPE and entity declarations instead of expanding them", () => {
    const external = `<?xml version="1.0"?><!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><name>&x;</name></domain>`;
    assert.throws(() => diskChains(external), (error: unknown) => error instanceof XmlError && /declarations .* are refused/.test(error.message));
    assert.throws(() => parseXml("<domain><name>&x;</name></domain>"), /undefined entity &x;/);
    assert.equal(parseXml("<a>&lt;&#65;&#x42;&apos;</a>").text, "<AB'");
  });

  it("refuses malformed documents with a reason", () => {
    assert.throws(() => parseXml("<a><b></a>"), /does not close/);
    assert.throws(() => parseXml("<a>"), /is not closed/);
    assert.throws(() => parseXml("<a/><b/>"), /second root/);
    assert.throws(() => parseXml("text"), /outside the root/);
    assert.throws(() => parseXml("<a x='1' x='2'/>"), /repeated/);
    assert.throws(() => parseXml(`${"<a>".repeat(xmlDepthMax + 1)}${"</a>".repeat(xmlDepthMax + 1)}`), /nest deeper/);
  });
});
