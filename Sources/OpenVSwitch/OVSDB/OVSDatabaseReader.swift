import HopscopeModel

extension OVSDBClient {
    /// The tables Hopscope reads, all in one transaction so the rows are consistent.
    static let readTables = ["Open_vSwitch", "Bridge", "Port", "Interface", "Mirror", "Controller"]

    /// Reads Open_vSwitch, Bridge, Port, Interface, Mirror and Controller in one `transact` and
    /// returns them as model rows. Throws `OVSDBError` (naming "read Open_vSwitch state").
    public func readDatabase() throws -> OVSDatabase {
        let results = try transact("Open_vSwitch", OVSDBClient.readTables.map { .select($0) }, purpose: "read Open_vSwitch state")
        var tables: [String: [OVSDBRow]] = [:]
        for (name, result) in zip(OVSDBClient.readTables, results) {
            guard let rows = result["rows"]?.arrayValue else { throw OVSDBError.malformed("select \(name) returned no rows array") }
            tables[name] = try rows.map { row in
                guard case .object(let members) = row else { throw OVSDBError.malformed("row is not an object: \(row)") }
                var out: OVSDBRow = [:]
                for (k, v) in members { out[k] = try OVSDBDatum(json: v) }
                return out
            }
        }
        return OVSDatabase(tables: tables)
    }
}

extension OVSDatabase {
    /// Builds model rows from raw OVSDB rows by table name (`Bridge`, `Port`, ...). Columns a row
    /// lacks read as empty, so partial selects and older schemas work.
    public init(tables: [String: [OVSDBRow]]) {
        func uuid(_ r: OVSDBRow) -> String { r["_uuid"]?.uuids.first ?? r["_uuid"]?.string ?? "" }
        self.init()
        system = tables["Open_vSwitch"]?.first.map { r in
            OVSSystemRow(uuid: uuid(r), ovsVersion: r["ovs_version"]?.string, dbVersion: r["db_version"]?.string,
                         systemType: r["system_type"]?.string, systemVersion: r["system_version"]?.string,
                         bridges: r["bridges"]?.uuids ?? [], externalIDs: r["external_ids"]?.stringMap ?? [:],
                         otherConfig: r["other_config"]?.stringMap ?? [:], datapathTypes: r["datapath_types"]?.strings ?? [],
                         interfaceTypes: r["iface_types"]?.strings ?? [])
        }
        bridges = (tables["Bridge"] ?? []).map { r in
            OVSBridgeRow(uuid: uuid(r), name: r["name"]?.string ?? "", datapathType: r["datapath_type"]?.string ?? "",
                         datapathID: r["datapath_id"]?.string, failMode: r["fail_mode"]?.string,
                         protocols: r["protocols"]?.strings ?? [], ports: r["ports"]?.uuids ?? [], mirrors: r["mirrors"]?.uuids ?? [],
                         controllers: r["controller"]?.uuids ?? [], externalIDs: r["external_ids"]?.stringMap ?? [:],
                         otherConfig: (r["other_config"]?.stringMap ?? [:]).merging(
                            r["mcast_snooping_enable"]?.boolean == true ? ["mcast-snooping-enable": "true"] : [:]) { a, _ in a })
        }.sorted { $0.name < $1.name }
        ports = (tables["Port"] ?? []).map { r in
            OVSPortRow(uuid: uuid(r), name: r["name"]?.string ?? "", interfaces: r["interfaces"]?.uuids ?? [],
                       tag: r["tag"]?.integer, trunks: r["trunks"]?.integers ?? [], vlanMode: r["vlan_mode"]?.string,
                       externalIDs: r["external_ids"]?.stringMap ?? [:], otherConfig: r["other_config"]?.stringMap ?? [:],
                       bondMode: r["bond_mode"]?.string)
        }.sorted { $0.name < $1.name }
        interfaces = (tables["Interface"] ?? []).map { r in
            OVSInterfaceRow(uuid: uuid(r), name: r["name"]?.string ?? "", type: r["type"]?.string ?? "",
                            options: r["options"]?.stringMap ?? [:], ofport: r["ofport"]?.integer,
                            ofportRequest: r["ofport_request"]?.integer, adminState: r["admin_state"]?.string,
                            linkState: r["link_state"]?.string, error: r["error"]?.string,
                            externalIDs: r["external_ids"]?.stringMap ?? [:], statistics: r["statistics"]?.integerMap ?? [:],
                            status: r["status"]?.stringMap ?? [:], macInUse: r["mac_in_use"]?.string, mac: r["mac"]?.string,
                            mtu: r["mtu"]?.integer, ifindex: r["ifindex"]?.integer)
        }.sorted { $0.name < $1.name }
        mirrors = (tables["Mirror"] ?? []).map { r in
            OVSMirrorRow(uuid: uuid(r), name: r["name"]?.string ?? "", selectAll: r["select_all"]?.boolean ?? false,
                         selectSourcePorts: r["select_src_port"]?.uuids ?? [], selectDestinationPorts: r["select_dst_port"]?.uuids ?? [],
                         selectVLANs: r["select_vlan"]?.integers ?? [], outputPort: r["output_port"]?.uuids.first,
                         outputVLAN: r["output_vlan"]?.integer, externalIDs: r["external_ids"]?.stringMap ?? [:],
                         statistics: r["statistics"]?.integerMap ?? [:])
        }.sorted { $0.name < $1.name }
        controllers = (tables["Controller"] ?? []).map { r in
            OVSControllerRow(uuid: uuid(r), target: r["target"]?.string ?? "", isConnected: r["is_connected"]?.boolean ?? false,
                             role: r["role"]?.string, connectionMode: r["connection_mode"]?.string, status: r["status"]?.stringMap ?? [:])
        }
    }
}

// MARK: Writes for the capture helper

extension OVSDBClient {
    /// Adds a port (with one interface of the same name) to `bridge`: a probe or mirror output
    /// port. `type` is the Interface type (`""` for a system device such as a veth end,
    /// `internal`); `externalIDs` should mark it as Hopscope's (`hopscope=capture`) so cleanup can
    /// find it. Atomic: fails (and changes nothing) when the bridge does not exist or a port of
    /// that name already exists. Returns the new Port row's UUID.
    @discardableResult
    public func addPort(bridge: String, name: String, type: String = "", options: [String: String] = [:],
                        externalIDs: [String: String] = [:]) throws -> String {
        let purpose = "add port \(name) to \(bridge)"
        let results = try transact("Open_vSwitch", [
            .wait("Bridge", where: [.equal("name", .string(bridge))], columns: ["name"], until: "==", rows: [["name": .string(bridge)]]),
            .wait("Port", where: [.equal("name", .string(name))], columns: ["name"], until: "==", rows: []),
            .insert("Interface", row: ["name": .string(name), "type": .string(type), "options": .stringMap(options),
                                       "external_ids": .stringMap(externalIDs)], uuidName: "iface"),
            .insert("Port", row: ["name": .string(name), "interfaces": .namedUUID("iface"), "external_ids": .stringMap(externalIDs)],
                    uuidName: "port"),
            .mutate("Bridge", where: [.equal("name", .string(bridge))], column: "ports", mutator: "insert", value: .namedUUID("port")),
            .comment("hopscope: \(purpose)"),
        ], purpose: purpose)
        return results[3]["uuid"]?.arrayValue?.last?.stringValue ?? ""
    }

    /// Removes port `name` from `bridge` (its interfaces go with it: OVSDB garbage-collects rows
    /// no longer referenced). Fails when the port is not on that bridge.
    public func removePort(bridge: String, name: String) throws {
        let purpose = "remove port \(name) from \(bridge)"
        let found = try transact("Open_vSwitch", [.select("Port", where: [.equal("name", .string(name))], columns: ["_uuid"])], purpose: purpose)
        guard let uuid = found.first?["rows"]?.arrayValue?.first?["_uuid"].flatMap({ try? OVSDBDatum(json: $0) })?.uuids.first else {
            throw OVSDBError.operation(operation: purpose, index: 0, error: "not found", details: "no port named \(name)")
        }
        let r = try transact("Open_vSwitch", [
            .mutate("Bridge", where: [.equal("name", .string(bridge)), .includes("ports", .uuid(uuid))],
                    column: "ports", mutator: "delete", value: .uuid(uuid)),
            .comment("hopscope: \(purpose)"),
        ], purpose: purpose)
        guard r.first?["count"]?.integerValue == 1 else {
            throw OVSDBError.operation(operation: purpose, index: 0, error: "not found", details: "port \(name) is not on bridge \(bridge)")
        }
    }

    /// Creates mirror `name` on `bridge` copying traffic to port `outputPort` (a port of the same
    /// bridge). Select with `selectAll`, or by ports (`sourcePorts`: packets received on them,
    /// `destinationPorts`: packets sent to them) and/or `vlans`. Atomic; returns the Mirror UUID.
    @discardableResult
    public func addMirror(bridge: String, name: String, outputPort: String, selectAll: Bool = false,
                          sourcePorts: [String] = [], destinationPorts: [String] = [], vlans: [Int] = [],
                          externalIDs: [String: String] = [:]) throws -> String {
        let purpose = "add mirror \(name) on \(bridge)"
        let names = Array(Set([outputPort] + sourcePorts + destinationPorts))
        let lookup = try transact("Open_vSwitch", names.map { .select("Port", where: [.equal("name", .string($0))], columns: ["_uuid", "name"]) },
                                  purpose: purpose)
        var uuids: [String: String] = [:]
        for (n, r) in zip(names, lookup) {
            guard let u = r["rows"]?.arrayValue?.first?["_uuid"].flatMap({ try? OVSDBDatum(json: $0) })?.uuids.first else {
                throw OVSDBError.operation(operation: purpose, index: 0, error: "not found", details: "no port named \(n)")
            }
            uuids[n] = u
        }
        var row: [String: OVSDBDatum] = [
            "name": .string(name), "output_port": .uuid(uuids[outputPort]!), "select_all": .boolean(selectAll),
            "external_ids": .stringMap(externalIDs),
        ]
        if !sourcePorts.isEmpty { row["select_src_port"] = .set(sourcePorts.map { .uuid(uuids[$0]!) }) }
        if !destinationPorts.isEmpty { row["select_dst_port"] = .set(destinationPorts.map { .uuid(uuids[$0]!) }) }
        if !vlans.isEmpty { row["select_vlan"] = .set(vlans.map { .integer(Int64($0)) }) }
        let results = try transact("Open_vSwitch", [
            .wait("Bridge", where: [.equal("name", .string(bridge))], columns: ["name"], until: "==", rows: [["name": .string(bridge)]]),
            .wait("Mirror", where: [.equal("name", .string(name))], columns: ["name"], until: "==", rows: []),
            .insert("Mirror", row: row, uuidName: "mirror"),
            .mutate("Bridge", where: [.equal("name", .string(bridge))], column: "mirrors", mutator: "insert", value: .namedUUID("mirror")),
            .comment("hopscope: \(purpose)"),
        ], purpose: purpose)
        return results[2]["uuid"]?.arrayValue?.last?.stringValue ?? ""
    }

    /// Removes mirror `name` from whichever bridge holds it. Fails when there is no such mirror.
    public func removeMirror(name: String) throws {
        let purpose = "remove mirror \(name)"
        let found = try transact("Open_vSwitch", [.select("Mirror", where: [.equal("name", .string(name))], columns: ["_uuid"])], purpose: purpose)
        guard let uuid = found.first?["rows"]?.arrayValue?.first?["_uuid"].flatMap({ try? OVSDBDatum(json: $0) })?.uuids.first else {
            throw OVSDBError.operation(operation: purpose, index: 0, error: "not found", details: "no mirror named \(name)")
        }
        let r = try transact("Open_vSwitch", [
            .mutate("Bridge", where: [.includes("mirrors", .uuid(uuid))], column: "mirrors", mutator: "delete", value: .uuid(uuid)),
            .comment("hopscope: \(purpose)"),
        ], purpose: purpose)
        guard r.first?["count"]?.integerValue == 1 else {
            throw OVSDBError.operation(operation: purpose, index: 0, error: "not found", details: "mirror \(name) is on no bridge")
        }
    }
}
