// The five brokers of the interop suite, in matrix order.
import type { Broker, BrokerId } from "./common.js";
import { startMosquittoBroker } from "./mosquitto.js";
import { startAedesBroker } from "./aedes.js";
import { startRabbitMQBroker } from "./rabbitmq.js";
import { startNatsBroker } from "./nats.js";
import { startEjabberdBroker } from "./ejabberd.js";

export type { Broker, BrokerId, Quirks } from "./common.js";

export interface BrokerEntry {
  id: BrokerId;
  name: string;
  /** Debian package (or npm) it comes from. */
  source: string;
  start(): Promise<Broker>;
}

export const BROKERS: BrokerEntry[] = [
  { id: "mosquitto", name: "Mosquitto", source: "Debian mosquitto", start: startMosquittoBroker },
  { id: "aedes", name: "Aedes", source: "npm aedes (in-process)", start: startAedesBroker },
  { id: "rabbitmq", name: "RabbitMQ (rabbitmq_mqtt)", source: "Debian rabbitmq-server", start: startRabbitMQBroker },
  { id: "nats", name: "NATS (MQTT)", source: "Debian nats-server", start: startNatsBroker },
  { id: "ejabberd", name: "ejabberd (mod_mqtt)", source: "Debian ejabberd", start: startEjabberdBroker },
];
