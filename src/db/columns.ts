import { customType, timestamp } from "drizzle-orm/pg-core";
import { type IdPrefix, idToUuid, uuidToId } from "../lib/ids";

/**
 * A prefixed object ID stored as a 16-byte `uuid`. The application only ever sees `pay_…` strings; the conversion
 * happens here, in the column type, so no query or serializer can forget it.
 */
export const prefixedId = (prefix: IdPrefix) =>
  customType<{ data: string; driverData: string }>({
    dataType: () => "uuid",
    toDriver: (id) => idToUuid(prefix, id),
    fromDriver: (uuid) => uuidToId(prefix, uuid),
  });

/** timestamptz with millisecond precision, read and written as a JS Date. */
export const timestamptz = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: "date" });
