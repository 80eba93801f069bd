// The brokers of the interop suite, in matrix order.
import type { Broker, BrokerId } from "./common.js";
import { startMosquittoBroker } from "./mosquitto.js";
import { startAedesBroker } from "./aedes.js";
import { startRabbitMQBroker } from "./rabbitmq.js";
import { startNatsBroker } from "./nats.js";
import { startEjabberdBroker } from "./ejabberd.js";
import { startNatsClusterBroker } from "./nats-cluster.js";

export type { Broker, BrokerId, Quirks } from "./common.js";

export interface BrokerEntry {
  id: BrokerId;
  name: string;
  /** Debian package (or npm) it comes from. */
  source: string;
  start(): Promise<Broker>;
  /** Only these scenarios run against it (the others show "-"); default all. */
  scenarios?: string[];
}

export const BROKERS: BrokerEntry[] = [
  { id: "mosquitto", name: "Mosquitto", source: "Debian mosquitto", start: startMosquittoBroker },
  { id: "aedes", name: "Aedes", source: "npm aedes (in-process)", start: startAedesBroker },
  { id: "rabbitmq", name: "RabbitMQ (rabbitmq_mqtt)", source: "Debian rabbitmq-server", start: startRabbitMQBroker },
  { id: "nats", name: "NATS (MQTT)", source: "Debian nats-server", start: startNatsBroker },
  { id: "ejabberd", name: "ejabberd (mod_mqtt)", source: "Debian ejabberd", start: startEjabberdBroker },
  // The single-node rows already cover NATS's MQTT; the cluster row is about what a cluster adds.
  { id: "nats-cluster", name: "NATS cluster (3 nodes, JetStream)", source: "Debian nats-server", start: startNatsClusterBroker,
    scenarios: ["connect", "qos", "failover"] },
];
