"""Input: reading files into texts, labels and ids, label formats, data sets, errors that say where, safe names."""
