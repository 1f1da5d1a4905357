/// Why a frame could not be decoded completely: the bytes ran out (`truncated`) or a header
/// contradicts itself or its protocol (`malformed`).
///
/// Decoding stops at the first error and keeps every layer decoded before it, so an operator still
/// sees the addresses of a packet whose DNS payload is broken. The value holds no references (it
/// is stored in `Packet`, which must stay free of allocations).
public struct DecodeError: Error, Hashable, Sendable, BitwiseCopyable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, BitwiseCopyable, Codable {
        /// The frame ends (usually the capture's snap length) before the header or field does.
        case truncated
        /// A length, version, pointer or count in the header is impossible.
        case malformed
    }

    public var kind: Kind
    /// The protocol whose header is short or broken.
    public var layer: ProtocolID
    /// Byte offset in the frame of the header (or field) that failed.
    public var offset: Int
    public var reason: Reason
    /// For `truncated`: bytes the field needs and bytes left in the frame; for `malformed` the
    /// offending value where one applies (a length, a version), else 0.
    public var needed: Int
    public var available: Int

    public init(kind: Kind, layer: ProtocolID, offset: Int, reason: Reason, needed: Int = 0, available: Int = 0) {
        self.kind = kind
        self.layer = layer
        self.offset = offset
        self.reason = reason
        self.needed = needed
        self.available = available
    }

    static func truncated(_ layer: ProtocolID, at offset: Int, needed: Int, available: Int, _ reason: Reason = .headerCutShort) -> DecodeError {
        DecodeError(kind: .truncated, layer: layer, offset: offset, reason: reason, needed: needed, available: max(0, available))
    }

    static func malformed(_ layer: ProtocolID, at offset: Int, _ reason: Reason, value: Int = 0) -> DecodeError {
        DecodeError(kind: .malformed, layer: layer, offset: offset, reason: reason, needed: value, available: 0)
    }

    /// What went wrong, in words an operator can act on.
    public enum Reason: String, Sendable, BitwiseCopyable, Codable {
        case headerCutShort = "header cut short"
        case fieldCutShort = "field cut short"
        case optionCutShort = "option cut short"
        case recordCutShort = "record cut short"
        case badVersion = "wrong version number"
        case headerLengthTooSmall = "header length smaller than the fixed header"
        case totalLengthTooSmall = "total length smaller than the header"
        case lengthTooSmall = "length field smaller than the header"
        case lengthBeyondEnclosing = "length field larger than the enclosing packet"
        case badOptionLength = "option length impossible"
        case badAddressLength = "address length impossible"
        case badLabel = "label type not allowed"
        case nameTooLong = "name longer than 255 bytes"
        case pointerLoop = "compression pointers loop or nest too deep"
        case pointerOutOfMessage = "compression pointer outside the message"
        case badMagicCookie = "DHCP magic cookie missing"
        case tooManyLayers = "more layers than the decoder keeps"
        case unsupportedLinkType = "link type not supported"
        case badExtensionChain = "extension header chain impossible"
    }

    public var description: String {
        switch kind {
        case .truncated:
            "\(layer.rawValue): truncated at byte \(offset): \(reason.rawValue) (needs \(needed) bytes, \(available) captured)"
        case .malformed:
            "\(layer.rawValue): malformed at byte \(offset): \(reason.rawValue)" + (needed != 0 ? " (value \(needed))" : "")
        }
    }
}
