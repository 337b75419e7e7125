// Validation of identifiers shared by every edge (gRPC handlers, CLI, config).
// Host ids name machines: DNS-label-like. VM names follow libvirt's permissive
// rules but are bounded and printable.

const hostIdPattern = /^[a-z0-9](?:[a-z0-9.-]{0,62})$/i;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const vmNameMaxLength = 200;

export function isHostId(value: string): boolean {
  return hostIdPattern.test(value);
}

export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}

export function isVmName(value: string): boolean {
  if (value.length === 0 || value.length > vmNameMaxLength) return false;
  // Control characters would corrupt table output and logs.
  return !/[\u0000-\u001f\u007f]/.test(value);
}

/** "host id" problems as a sentence, or null when valid. */
export function hostIdProblem(value: string): string | null {
  if (value.length === 0) return "is empty";
  if (!isHostId(value)) return `"${value.slice(0, 80)}" is not a valid host id (letters, digits, '.', '-'; at most 63)`;
  return null;
}
