// Maps the Raft core's messages to peer.proto and back. Decoding validates
// everything a peer sends: a malformed message is refused with a reason and
// never reaches the core (snapshots travel separately, in chunks).
import type { RaftEntry, RaftEntry__Output } from "../../common/generated/vigil/v1/RaftEntry.js";
import type { RaftMessage, RaftMessage__Output } from "../../common/generated/vigil/v1/RaftMessage.js";
import type { RaftMessageType__Output } from "../../common/generated/vigil/v1/RaftMessageType.js";
import { EntryKind, MessageType, replicaId, type Entry, type Message } from "./raft-types.js";

type WireType = Exclude<RaftMessageType__Output, "RAFT_MESSAGE_TYPE_UNSPECIFIED">;
type StreamedType = Exclude<MessageType, typeof MessageType.installSnapshot>;

const wireTypes: Record<StreamedType, WireType> = {
  append: "RAFT_MESSAGE_TYPE_APPEND",
  appendResponse: "RAFT_MESSAGE_TYPE_APPEND_RESPONSE",
  heartbeat: "RAFT_MESSAGE_TYPE_HEARTBEAT",
  heartbeatResponse: "RAFT_MESSAGE_TYPE_HEARTBEAT_RESPONSE",
  preVote: "RAFT_MESSAGE_TYPE_PRE_VOTE",
  preVoteResponse: "RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE",
  vote: "RAFT_MESSAGE_TYPE_VOTE",
  voteResponse: "RAFT_MESSAGE_TYPE_VOTE_RESPONSE",
  timeoutNow: "RAFT_MESSAGE_TYPE_TIMEOUT_NOW",
  readIndex: "RAFT_MESSAGE_TYPE_READ_INDEX",
  readIndexResponse: "RAFT_MESSAGE_TYPE_READ_INDEX_RESPONSE",
};
const coreTypes = new Map<string, StreamedType>(Object.entries(wireTypes).map(([core, wire]) => [wire, core as StreamedType]));

export class PeerMessageError extends Error {
  override name = "PeerMessageError";
}

function entryToWire(entry: Entry): RaftEntry {
  return { index: entry.index, term: entry.term, kind: entry.kind === EntryKind.normal ? "RAFT_ENTRY_KIND_NORMAL" : "RAFT_ENTRY_KIND_CONFIGURATION_CHANGE", data: Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength) };
}

function entryFromWire(entry: RaftEntry__Output, position: number): Entry {
  if (entry.index < 1 || entry.term < 1) throw new PeerMessageError(`entries[${position}] has index ${entry.index} term ${entry.term}; both must be ≥ 1`);
  const kind = entry.kind === "RAFT_ENTRY_KIND_NORMAL" ? EntryKind.normal : entry.kind === "RAFT_ENTRY_KIND_CONFIGURATION_CHANGE" ? EntryKind.configurationChange : null;
  if (kind === null) throw new PeerMessageError(`entries[${position}] has kind ${entry.kind}`);
  return { index: entry.index, term: entry.term, kind, data: new Uint8Array(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength) };
}

/** The streamed part of a message (everything but installSnapshot). */
export function messageToWire(message: Exclude<Message, { type: "installSnapshot" }>): RaftMessage {
  const wire: RaftMessage = { type: wireTypes[message.type], term: message.term };
  switch (message.type) {
    case MessageType.append:
      return { ...wire, previousIndex: message.previousIndex, previousTerm: message.previousTerm, entries: message.entries.map(entryToWire), commitIndex: message.commitIndex };
    case MessageType.appendResponse:
      return { ...wire, index: message.index, reject: message.reject, rejectHintIndex: message.rejectHintIndex, rejectHintTerm: message.rejectHintTerm };
    case MessageType.heartbeat:
      return { ...wire, commitIndex: message.commitIndex, readSequence: message.readSequence };
    case MessageType.heartbeatResponse:
      return { ...wire, readSequence: message.readSequence };
    case MessageType.preVote:
    case MessageType.vote:
      return { ...wire, lastLogIndex: message.lastLogIndex, lastLogTerm: message.lastLogTerm, transfer: message.transfer };
    case MessageType.preVoteResponse:
    case MessageType.voteResponse:
      return { ...wire, reject: message.reject };
    case MessageType.timeoutNow:
      return wire;
    case MessageType.readIndex:
      return { ...wire, context: message.context };
    case MessageType.readIndexResponse:
      return { ...wire, context: message.context, index: message.index, reject: message.reject };
  }
}

/** Decodes and checks one streamed message from `from` to `to`. */
export function messageFromWire(wire: RaftMessage__Output, fromText: string, toText: string): Message {
  const type = coreTypes.get(wire.type);
  if (type === undefined) throw new PeerMessageError(`unknown raft message type ${wire.type}`);
  if (fromText.length === 0 || toText.length === 0) throw new PeerMessageError("from and to must name replicas");
  const header = { from: replicaId(fromText), to: replicaId(toText), term: wire.term };
  switch (type) {
    case MessageType.append: {
      const entries = wire.entries.map(entryFromWire);
      for (const [position, entry] of entries.entries()) {
        if (entry.index !== wire.previousIndex + 1 + position) throw new PeerMessageError(`entries[${position}] has index ${entry.index}; expected ${wire.previousIndex + 1 + position}`);
      }
      return { ...header, type, previousIndex: wire.previousIndex, previousTerm: wire.previousTerm, entries, commitIndex: wire.commitIndex };
    }
    case MessageType.appendResponse:
      return { ...header, type, index: wire.index, reject: wire.reject, rejectHintIndex: wire.rejectHintIndex, rejectHintTerm: wire.rejectHintTerm };
    case MessageType.heartbeat:
      return { ...header, type, commitIndex: wire.commitIndex, readSequence: wire.readSequence };
    case MessageType.heartbeatResponse:
      return { ...header, type, readSequence: wire.readSequence };
    case MessageType.preVote:
    case MessageType.vote:
      return { ...header, type, lastLogIndex: wire.lastLogIndex, lastLogTerm: wire.lastLogTerm, transfer: wire.transfer };
    case MessageType.preVoteResponse:
    case MessageType.voteResponse:
      return { ...header, type, reject: wire.reject };
    case MessageType.timeoutNow:
      return { ...header, type };
    case MessageType.readIndex:
      return { ...header, type, context: wire.context };
    case MessageType.readIndexResponse:
      return { ...header, type, context: wire.context, index: wire.index, reject: wire.reject };
  }
}
