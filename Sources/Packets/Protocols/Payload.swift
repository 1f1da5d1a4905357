/// Bytes after the last decoded header: application data, echo data, or a protocol the decoders
/// do not know (kept raw, never guessed).
public struct PayloadLayer: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var length: Int
    public var range: ByteRange { ByteRange(offset: offset, count: length) }
}
