import NIOCore
import NeptuneCache
import NeptuneRESP

extension ServerState {
    /// SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB, with Redis 7.0's metadata.
    func pubSubCommandSpecs() -> [CommandSpec] {
        let group = "pubsub"
        let subscribeFlags: Set<String> = ["pubsub", "noscript", "loading", "stale"]
        let slow = ["pubsub", "slow"]
        return [
            spec("subscribe", -2, subscribeFlags, slow, group: group, since: "2.0.0",
                 summary: "Listens for messages published to channels.",
                 complexity: "O(N) where N is the number of channels to subscribe to.") {
                [self] _, a, c in try self.subscribe(a, &c, pattern: false)
            },
            spec("psubscribe", -2, subscribeFlags, slow, group: group, since: "2.0.0",
                 summary: "Listens for messages published to channels that match one or more patterns.",
                 complexity: "O(N) where N is the number of patterns to subscribe to.") {
                [self] _, a, c in try self.subscribe(a, &c, pattern: true)
            },
            spec("unsubscribe", -1, subscribeFlags, slow, group: group, since: "2.0.0",
                 summary: "Stops listening to messages posted to channels.",
                 complexity: "O(N) where N is the number of channels to unsubscribe.") {
                [self] _, a, c in try self.unsubscribe(a, &c, pattern: false)
            },
            spec("punsubscribe", -1, subscribeFlags, slow, group: group, since: "2.0.0",
                 summary: "Stops listening to messages published to channels that match one or more patterns.",
                 complexity: "O(N) where N is the number of patterns to unsubscribe.") {
                [self] _, a, c in try self.unsubscribe(a, &c, pattern: true)
            },
            spec("publish", 3, ["pubsub", "loading", "stale", "fast"], ["pubsub", "fast"], group: group, since: "2.0.0",
                 summary: "Posts a message to a channel.",
                 complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is "
                    + "the total number of subscribed patterns (by any client).") {
                [self] _, a, c in
                let receivers = self.pubsub.publish(channel: a[1], message: a[2])
                c.reply.writeRESPInteger(receivers)
            },
            spec(
                "pubsub", -2, [], ["slow"], group: group, since: "2.8.0", summary: "A container for Pub/Sub commands.",
                complexity: "Depends on subcommand.",
                subcommands: [
                    spec("pubsub|channels", -2, ["pubsub", "loading", "stale"], slow, group: group, since: "2.8.0",
                         summary: "Returns the active channels.",
                         complexity: "O(N) where N is the number of active channels, and assuming constant time "
                            + "pattern matching (relatively short channels and patterns)") {
                        [self] _, a, c in
                        guard a.count <= 3 else {
                            throw CommandError(
                                "ERR unknown subcommand or wrong number of arguments for '\(ServerCommandSupport.cString(a[1]))'. "
                                    + "Try PUBSUB HELP."
                            )
                        }
                        let pattern = a.count == 3 ? Array(a[2].readableBytesView) : nil
                        let channels = self.pubsub.channels(matching: pattern)
                        c.reply.writeRESPArrayHeader(channels.count)
                        for channel in channels { c.reply.writeRESPBulkString(channel) }
                    },
                    spec("pubsub|numsub", -2, ["pubsub", "loading", "stale"], slow, group: group, since: "2.8.0",
                         summary: "Returns a count of subscribers to channels.",
                         complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels") {
                        [self] _, a, c in
                        c.reply.writeRESPArrayHeader((a.count - 2) * 2)
                        for channel in a.dropFirst(2) {
                            c.reply.writeRESPBulkString(channel)
                            c.reply.writeRESPInteger(self.pubsub.subscriberCount(Array(channel.readableBytesView)))
                        }
                    },
                    spec("pubsub|numpat", 2, ["pubsub", "loading", "stale"], slow, group: group, since: "2.8.0",
                         summary: "Returns a count of unique pattern subscriptions.") {
                        [self] _, _, c in c.reply.writeRESPInteger(self.pubsub.patternCount)
                    },
                    spec("pubsub|help", 2, ["loading", "stale"], ["slow"], group: group, since: "6.2.0",
                         summary: "Returns helpful text about the different subcommands.") {
                        _, _, c in
                        ServerCommandSupport.writeHelp(
                            "PUBSUB",
                            [
                                "CHANNELS [<pattern>]",
                                "    Return the currently active channels matching a <pattern> (default: '*').",
                                "NUMPAT",
                                "    Return number of subscriptions to patterns.",
                                "NUMSUB [<channel> ...]",
                                "    Return the number of subscribers for the specified channels, excluding",
                                "    pattern subscriptions(default: no channels).",
                                "SHARDCHANNELS [<pattern>]",
                                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                                "SHARDNUMSUB [<shardchannel> ...]",
                                "    Return the number of subscribers for the specified shard level channel(s)",
                            ],
                            to: &c.reply
                        )
                    },
                ],
                nil
            ),
        ]
    }

    /// SUBSCRIBE / PSUBSCRIBE: one confirmation per name, with the client's subscription count after it.
    func subscribe(_ a: [ByteBuffer], _ c: inout CommandContext, pattern: Bool) throws {
        guard let client = c.connection else { throw Self.needsConnection }
        let kind = pattern ? "psubscribe" : "subscribe"
        for name in a.dropFirst() {
            let bytes = Array(name.readableBytesView)
            if client.addSubscription(bytes, pattern: pattern) {
                pubsub.add(client, bytes, isPattern: pattern)
            }
            c.reply.writeRESPPushHeader(3, c.protocolVersion)
            c.reply.writeRESPBulkString(kind)
            c.reply.writeRESPBulkString(name)
            c.reply.writeRESPInteger(client.subscriptionCount)
        }
        c.isSubscribed = client.subscriptionCount > 0
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE: from the names given, or from all when none is.
    func unsubscribe(_ a: [ByteBuffer], _ c: inout CommandContext, pattern: Bool) throws {
        guard let client = c.connection else { throw Self.needsConnection }
        let kind = pattern ? "punsubscribe" : "unsubscribe"
        let names = a.count > 1 ? a.dropFirst().map { Array($0.readableBytesView) } : client.subscriptions(patterns: pattern)
        if names.isEmpty {
            c.reply.writeRESPPushHeader(3, c.protocolVersion)
            c.reply.writeRESPBulkString(kind)
            c.reply.writeRESPNull(c.protocolVersion)
            c.reply.writeRESPInteger(client.subscriptionCount)
        }
        for name in names {
            if client.removeSubscription(name, pattern: pattern) {
                pubsub.remove(client, name, isPattern: pattern)
            }
            c.reply.writeRESPPushHeader(3, c.protocolVersion)
            c.reply.writeRESPBulkString(kind)
            c.reply.writeRESPBulkString(name)
            c.reply.writeRESPInteger(client.subscriptionCount)
        }
        c.isSubscribed = client.subscriptionCount > 0
    }

    /// Drops every subscription of `client` without replying (RESET, disconnect).
    func unsubscribeAll(_ client: ClientConnection) {
        for isPattern in [false, true] {
            for name in client.subscriptions(patterns: isPattern) {
                _ = client.removeSubscription(name, pattern: isPattern)
                pubsub.remove(client, name, isPattern: isPattern)
            }
        }
    }
}
