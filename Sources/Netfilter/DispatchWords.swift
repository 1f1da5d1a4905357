/// Hashes (`wordHash`) of the words the parser dispatches on, as literals so that reading one
/// costs nothing (a computed global would be initialised lazily on every access path).
/// `ParserTests.wordHashConstantsMatchTheirWords` checks each against its word.
enum W {
    static let A: UInt64 = 0xbb05bed409422f26  // -A
    static let append: UInt64 = 0x62ab487d966c8e04  // --append
    static let j: UInt64 = 0x19c843002f4160f0  // -j
    static let jump: UInt64 = 0x89774a71ebb218be  // --jump
    static let g: UInt64 = 0xa1bb1edf0df5e764  // -g
    static let goto_: UInt64 = 0xeb92e0a68e37ed83  // --goto
    static let m: UInt64 = 0x6e7e7846a675670b  // -m
    static let match: UInt64 = 0x0347857c583f874a  // --match
    static let s: UInt64 = 0x04291a9e10580c21  // -s
    static let source: UInt64 = 0x45374051f16c4cfc  // --source
    static let src: UInt64 = 0xf8df24dd5937a88d  // --src
    static let d: UInt64 = 0x4a60356f5a724b56  // -d
    static let destination: UInt64 = 0xb0e5e43e04914d7b  // --destination
    static let dst: UInt64 = 0xf08f38ec051dd250  // --dst
    static let i: UInt64 = 0xb92bc222a1b82fdc  // -i
    static let inInterface: UInt64 = 0xbd93d63f2b626126  // --in-interface
    static let o: UInt64 = 0x2bb506b025ce7df4  // -o
    static let outInterface: UInt64 = 0xcaab16d0779a6567  // --out-interface
    static let p: UInt64 = 0x67fa4ad36c505251  // -p
    static let protocol_: UInt64 = 0xa03b20f85a343dba  // --protocol
    static let f: UInt64 = 0xf4edfba74731dc78  // -f
    static let fragment: UInt64 = 0x454626b794adf387  // --fragment
    static let tcp: UInt64 = 0x53ac073f70161a11  // tcp
    static let udp: UInt64 = 0x519a5161bc5e33f6  // udp
    static let comment: UInt64 = 0x1da6dfafbe6d366c  // comment
    static let physdev: UInt64 = 0xf98ac3117fb1d62f  // physdev
    static let state: UInt64 = 0x74724367093c69f2  // state
    static let conntrack: UInt64 = 0x7e5a599a4536359d  // conntrack
    static let set: UInt64 = 0x1dd2ca0c05ab44ba  // set
    static let mac: UInt64 = 0xaa0bd66b000f837e  // mac
    static let mark: UInt64 = 0xbdccad0af5848f3e  // mark
    static let connmark: UInt64 = 0x8a0c76dcc974d1dc  // connmark
    static let icmp: UInt64 = 0xdcd28538f157235e  // icmp
    static let icmp6: UInt64 = 0xab8d41878e6e092f  // icmp6
    static let multiport: UInt64 = 0x2c6f1b2474c0136e  // multiport
    static let addrtype: UInt64 = 0x7db9135c8c4e4280  // addrtype
    static let iprange: UInt64 = 0x9459eaf6a26c626f  // iprange
    static let limit: UInt64 = 0xfa9953c53d34cf51  // limit
    static let owner: UInt64 = 0x4be8b3c7511a40db  // owner
    static let sport: UInt64 = 0x3f4a4066d70a8e2d  // --sport
    static let sourcePort: UInt64 = 0x92f9b890b1beae5e  // --source-port
    static let dport: UInt64 = 0x910a5ccb082dba3c  // --dport
    static let destinationPort: UInt64 = 0x68fe52a1f1072018  // --destination-port
    static let tcpFlags: UInt64 = 0x378ff940890aebc0  // --tcp-flags
    static let syn: UInt64 = 0x7014d28ff85521d8  // --syn
    static let tcpOption: UInt64 = 0x8ba21382d5b17e01  // --tcp-option
    static let commentOpt: UInt64 = 0x7c55f678428cb1ff  // --comment
    static let physdevIn: UInt64 = 0xa75165b7cfaa2c97  // --physdev-in
    static let physdevOut: UInt64 = 0x6198b0168e6d3417  // --physdev-out
    static let physdevIsBridged: UInt64 = 0x2e5cfcfc98ee99f6  // --physdev-is-bridged
    static let physdevIsIn: UInt64 = 0x997aae4d8a08f82a  // --physdev-is-in
    static let physdevIsOut: UInt64 = 0xf1226e278fd7cc5a  // --physdev-is-out
    static let stateOpt: UInt64 = 0xb300d72402f478db  // --state
    static let ctstate: UInt64 = 0x20c3c97673ba644a  // --ctstate
    static let ctstatus: UInt64 = 0x8f9c20bef921cf2c  // --ctstatus
    static let ctdir: UInt64 = 0x5f8786dd2e7294b9  // --ctdir
    static let matchSet: UInt64 = 0x0ce07e5d4190ac6e  // --match-set
    static let setOpt: UInt64 = 0x7c2f4929bfe129d8  // --set
    static let updateCounters: UInt64 = 0xce9e9c0af1455bdb  // --update-counters
    static let updateSubcounters: UInt64 = 0xfbed15866e3435a6  // --update-subcounters
    static let macSource: UInt64 = 0x3e7e4fb7afdab035  // --mac-source
    static let markOpt: UInt64 = 0x4747da51eb7452f4  // --mark
    static let icmpType: UInt64 = 0x5db67eb10f099d02  // --icmp-type
    static let icmpv6Type: UInt64 = 0x8c138ad24cd1b46b  // --icmpv6-type
    static let srcType: UInt64 = 0xf7f0b2f1dd06ec05  // --src-type
    static let dstType: UInt64 = 0xf6bad8b987bc968f  // --dst-type
    static let limitIfaceIn: UInt64 = 0xca9d39b9dc79ec44  // --limit-iface-in
    static let limitIfaceOut: UInt64 = 0x34f10067214273cb  // --limit-iface-out
    static let ACCEPT: UInt64 = 0xe426a7699aa7ecef  // ACCEPT
    static let DROP: UInt64 = 0x3798cc5edc511c74  // DROP
    static let RETURN: UInt64 = 0x9422a979d4035b56  // RETURN
    static let REJECT: UInt64 = 0x5e8917b432507edb  // REJECT
    static let NOTRACK: UInt64 = 0x5f2dfb4db9ebfa91  // NOTRACK
    static let CHECKSUM: UInt64 = 0x58c428d4a9a6bf7f  // CHECKSUM
    static let LOG: UInt64 = 0x1a428c7ab0530fb4  // LOG
    static let CT: UInt64 = 0xa421ed22fa598100  // CT
    static let rejectWith: UInt64 = 0x974b826ab8ba23ad  // --reject-with
    static let notrack: UInt64 = 0x9ed04a06aea642e1  // --notrack
    static let zone: UInt64 = 0xc40ac0bf3f611920  // --zone

    /// Every constant with its word, for the test.
    static let all: [(UInt64, String)] = [
        (A, "-A"),
        (append, "--append"),
        (j, "-j"),
        (jump, "--jump"),
        (g, "-g"),
        (goto_, "--goto"),
        (m, "-m"),
        (match, "--match"),
        (s, "-s"),
        (source, "--source"),
        (src, "--src"),
        (d, "-d"),
        (destination, "--destination"),
        (dst, "--dst"),
        (i, "-i"),
        (inInterface, "--in-interface"),
        (o, "-o"),
        (outInterface, "--out-interface"),
        (p, "-p"),
        (protocol_, "--protocol"),
        (f, "-f"),
        (fragment, "--fragment"),
        (tcp, "tcp"),
        (udp, "udp"),
        (comment, "comment"),
        (physdev, "physdev"),
        (state, "state"),
        (conntrack, "conntrack"),
        (set, "set"),
        (mac, "mac"),
        (mark, "mark"),
        (connmark, "connmark"),
        (icmp, "icmp"),
        (icmp6, "icmp6"),
        (multiport, "multiport"),
        (addrtype, "addrtype"),
        (iprange, "iprange"),
        (limit, "limit"),
        (owner, "owner"),
        (sport, "--sport"),
        (sourcePort, "--source-port"),
        (dport, "--dport"),
        (destinationPort, "--destination-port"),
        (tcpFlags, "--tcp-flags"),
        (syn, "--syn"),
        (tcpOption, "--tcp-option"),
        (commentOpt, "--comment"),
        (physdevIn, "--physdev-in"),
        (physdevOut, "--physdev-out"),
        (physdevIsBridged, "--physdev-is-bridged"),
        (physdevIsIn, "--physdev-is-in"),
        (physdevIsOut, "--physdev-is-out"),
        (stateOpt, "--state"),
        (ctstate, "--ctstate"),
        (ctstatus, "--ctstatus"),
        (ctdir, "--ctdir"),
        (matchSet, "--match-set"),
        (setOpt, "--set"),
        (updateCounters, "--update-counters"),
        (updateSubcounters, "--update-subcounters"),
        (macSource, "--mac-source"),
        (markOpt, "--mark"),
        (icmpType, "--icmp-type"),
        (icmpv6Type, "--icmpv6-type"),
        (srcType, "--src-type"),
        (dstType, "--dst-type"),
        (limitIfaceIn, "--limit-iface-in"),
        (limitIfaceOut, "--limit-iface-out"),
        (ACCEPT, "ACCEPT"),
        (DROP, "DROP"),
        (RETURN, "RETURN"),
        (REJECT, "REJECT"),
        (NOTRACK, "NOTRACK"),
        (CHECKSUM, "CHECKSUM"),
        (LOG, "LOG"),
        (CT, "CT"),
        (rejectWith, "--reject-with"),
        (notrack, "--notrack"),
        (zone, "--zone"),
    ]
}
