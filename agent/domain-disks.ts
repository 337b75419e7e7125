// The live backing chain of each disk, read from libvirt's domain XML (DESIGN §9: disk chain sync
// reads the live domain XML backing chain). Pure: XML text in, chains out.
//
// libvirt writes the chain as nested elements, top image first:
//   <disk type='file' device='disk'>
//     <source file='/images/top.qcow2'/>
//     <backingStore type='file'><source file='/images/base.qcow2'/><backingStore/></backingStore>
//     <mirror type='file' job='active-commit' ready='yes'><source file='/images/base.qcow2'/></mirror>
//     <target dev='vda'/>
//   </disk>
// A <mirror> is present while a copy or active commit runs and names where it writes.
import { childNamed, childrenNamed, parseXml, type XmlElement } from "../common/xml.js";

export interface DiskChain {
  /** The guest's name for the disk, e.g. "vda". */
  target: string;
  /** Top image first, base last. */
  files: string[];
  /** While a copy or active commit runs: the job and the image it writes to. */
  mirror: { job: string; file: string } | null;
}

/** Devices that hold guest data; cdrom and floppy media are not part of any chain. */
const chainDevices: ReadonlySet<string> = new Set(["disk", "lun"]);
/** A chain deeper than this is refused as malformed (libvirt's own limit is far lower in practice). */
export const chainDepthMax = 200;

/** A readable name for an image: its file, block device, volume, or network volume. */
function sourceName(source: XmlElement | undefined): string | null {
  if (source === undefined) return null;
  const { file, dev, volume, pool, protocol, name } = source.attributes;
  if (file) return file;
  if (dev) return dev;
  if (volume) return pool ? `${pool}/${volume}` : volume;
  if (name) return protocol ? `${protocol}:${name}` : name;
  return null;
}

function chainOf(disk: XmlElement): string[] {
  const files: string[] = [];
  let layer: XmlElement | undefined = disk;
  while (layer !== undefined && files.length < chainDepthMax) {
    const name = sourceName(childNamed(layer, "source"));
    if (name === null) break;
    files.push(name);
    layer = childNamed(layer, "backingStore");
  }
  return files;
}

/** Every data disk of the domain with its chain, in XML order. Throws XmlError on a malformed document. */
export function diskChains(domainXml: string): DiskChain[] {
  const domain = parseXml(domainXml);
  const devices = childNamed(domain, "devices");
  if (devices === undefined) return [];
  const chains: DiskChain[] = [];
  for (const disk of childrenNamed(devices, "disk")) {
    if (!chainDevices.has(disk.attributes.device ?? "disk")) continue;
    const target = childNamed(disk, "target")?.attributes.dev;
    if (target === undefined || target === "") continue;
    const mirrorElement = childNamed(disk, "mirror");
    const mirrorFile = mirrorElement === undefined ? null : (sourceName(childNamed(mirrorElement, "source")) ?? mirrorElement.attributes.file ?? null);
    chains.push({
      target,
      files: chainOf(disk),
      mirror: mirrorElement === undefined || mirrorFile === null ? null : { job: mirrorElement.attributes.job ?? "copy", file: mirrorFile },
    });
  }
  return chains;
}

/** The chain of one disk, or null when the domain has no such disk. */
export function diskChain(domainXml: string, target: string): DiskChain | null {
  return diskChains(domainXml).find((disk) => disk.target === target) ?? null;
}
