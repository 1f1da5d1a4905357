// RTM_NEWNSID payload:
//
//   struct rtgenmsg { 0: family }  (padded to 4 bytes)
//   then NETNSA_NSID (s32: the id, -1 when none is assigned), NETNSA_CURRENT_NSID, ...

/// Decodes RTM_NEWNSID messages: the id one namespace gives another.
public enum NamespaceIDMessage {
    /// The NETNSA_NSID of one RTM_NEWNSID payload; nil when it says "not assigned" (-1).
    public static func decode(_ payload: UnsafeRawBufferPointer) throws -> Int32? {
        let header = try FixedHeader(payload, size: FamilyHeaderSize.rtgenmsg, context: "rtgenmsg")
        var nsid: Int32?
        var a = AttributeDecoder(header.remainder(after: FamilyHeaderSize.rtgenmsg), context: "nsid attributes")
        while a.next() {
            if NamespaceIDAttribute(rawValue: a.type) == .nsid { nsid = a.int32() }
        }
        try a.finish()
        guard let nsid else {
            throw NetlinkDecodeError(problem: .malformed, context: "nsid attributes", offset: 0, detail: "NETNSA_NSID is missing")
        }
        return nsid == namespaceIDNotAssigned ? nil : nsid
    }
}
