export { RabbitMqBroker, type RabbitMqBrokerOptions } from './rabbitmq-broker';
