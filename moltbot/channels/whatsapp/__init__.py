"""WhatsApp (placeholder): the WhatsApp Web client is not part of this build."""
