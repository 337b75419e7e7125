// What a disk's backing chain proves about a block job that is no longer running (DESIGN §9:
// "finished, with the outcome libvirt can prove"). Pure. Shared by the agent's recovery (its own
// host's live chain) and the control plane (the chain reported by the host a VM moved to).
//
// Rules, per kind (chains are top image first):
// 1. commit / active-commit: the image merged away (top) is gone from the chain, which holds only
//    layers it had before => completed.
//    Without a known top, a chain that lost layers but kept its active image => completed.
// 2. pull: the same active image with fewer layers below it => completed.
// 3. copy: the chain's active image is the copy's destination => completed (pivoted).
// 4. any kind: the chain exactly as before the job => aborted (canceled or failed: nothing changed).
// 5. anything else (no chain, a chain that changed some other way) proves nothing => null.
export const blockJobKinds = ["commit", "active-commit", "copy", "pull"] as const;
export type BlockJobKind = (typeof blockJobKinds)[number];

export interface BlockJobFacts {
  kind: BlockJobKind;
  chainBefore: readonly string[];
  /** The image a commit merges away; "" when unknown. */
  top: string;
  /** Commit base, copy destination or pull's active image; "" when unknown. */
  target: string;
}

export interface ChainProof {
  outcome: "completed" | "aborted";
  detail: string;
}

export function isBlockJobKind(kind: string): kind is BlockJobKind {
  return (blockJobKinds as readonly string[]).includes(kind);
}

function sameChain(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((file, index) => file === b[index]);
}

/** True when `shorter` keeps `longer`'s order and active image but lost at least one layer. */
function lostLayers(longer: readonly string[], shorter: readonly string[]): boolean {
  if (shorter.length === 0 || shorter.length >= longer.length || shorter[0] !== longer[0]) return false;
  let position = 0;
  for (const file of shorter) {
    position = longer.indexOf(file, position);
    if (position === -1) return false;
    position += 1;
  }
  return true;
}

export function proveFromChain(job: BlockJobFacts, chainNow: readonly string[]): ChainProof | null {
  if (chainNow.length === 0 || job.chainBefore.length === 0) return null;
  const completed = (detail: string): ChainProof => ({ outcome: "completed", detail });
  switch (job.kind) {
    case "active-commit":
    case "commit": {
      const top = job.top !== "" ? job.top : job.kind === "active-commit" ? (job.chainBefore[0] ?? "") : "";
      const onlyOldLayers = chainNow.every((file) => job.chainBefore.includes(file));
      if (top !== "" && !chainNow.includes(top) && job.chainBefore.includes(top) && onlyOldLayers) return completed(`${top} is no longer in the chain`);
      if (top === "" && lostLayers(job.chainBefore, chainNow)) return completed("the chain lost the committed layers");
      break;
    }
    case "pull":
      if (lostLayers(job.chainBefore, chainNow)) return completed("the active image no longer needs the pulled layers");
      break;
    case "copy":
      if (job.target !== "" && chainNow[0] === job.target) return completed(`the disk now runs on the copy ${job.target}`);
      break;
  }
  if (sameChain(job.chainBefore, chainNow)) return { outcome: "aborted", detail: "the chain is unchanged: the job was canceled or failed" };
  return null;
}
