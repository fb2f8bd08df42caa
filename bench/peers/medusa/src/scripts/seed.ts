// The store the driver checks out against: one region (India, INR) paid through the
// system payment provider, an 18 % tax region, one flat shipping option and one
// product whose variant is priced in INR and not stock-managed (stock is not what is
// measured). Idempotent: a second run finds the region and only prints the ids.
import { ExecArgs } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, Modules, ProductStatus } from "@medusajs/framework/utils"
import {
  createApiKeysWorkflow,
  createProductsWorkflow,
  createRegionsWorkflow,
  createSalesChannelsWorkflow,
  createShippingOptionsWorkflow,
  createShippingProfilesWorkflow,
  createStockLocationsWorkflow,
  createTaxRegionsWorkflow,
  linkSalesChannelsToApiKeyWorkflow,
  linkSalesChannelsToStockLocationWorkflow,
  updateStoresWorkflow,
} from "@medusajs/medusa/core-flows"
import { writeFileSync } from "fs"

const REGION = "India (bench)"

export default async function seed({ container }: ExecArgs) {
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const link = container.resolve(ContainerRegistrationKeys.LINK)

  const { data: existing } = await query.graph({ entity: "region", fields: ["id"], filters: { name: REGION } })
  if (existing.length === 0) {
    logger.info("seeding the bench store")
    const { result: [channel] } = await createSalesChannelsWorkflow(container).run({
      input: { salesChannelsData: [{ name: "Bench store" }] },
    })

    const storeModule = container.resolve(Modules.STORE)
    const [store] = await storeModule.listStores()
    await updateStoresWorkflow(container).run({
      input: {
        selector: { id: store.id },
        update: {
          supported_currencies: [{ currency_code: "inr", is_default: true }],
          default_sales_channel_id: channel.id,
        },
      },
    })

    const { result: [region] } = await createRegionsWorkflow(container).run({
      input: {
        regions: [{ name: REGION, currency_code: "inr", countries: ["in"], payment_providers: ["pp_system_default"] }],
      },
    })
    await updateStoresWorkflow(container).run({
      input: { selector: { id: store.id }, update: { default_region_id: region.id } },
    })

    // GST on the item and the shipping, as ours charges it (18 %)
    await createTaxRegionsWorkflow(container).run({
      input: [{ country_code: "in", provider_id: "tp_system", default_tax_rate: { name: "GST", code: "GST", rate: 18 } }],
    })

    const { result: [location] } = await createStockLocationsWorkflow(container).run({
      input: { locations: [{ name: "Bench warehouse", address: { city: "Bengaluru", country_code: "IN", address_1: "" } }] },
    })
    await link.create({
      [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
      [Modules.FULFILLMENT]: { fulfillment_provider_id: "manual_manual" },
    })
    await linkSalesChannelsToStockLocationWorkflow(container).run({
      input: { id: location.id, add: [channel.id] },
    })

    const { result: [profile] } = await createShippingProfilesWorkflow(container).run({
      input: { data: [{ name: "Bench", type: "default" }] },
    })
    const fulfillment = container.resolve(Modules.FULFILLMENT)
    const set = await fulfillment.createFulfillmentSets({
      name: "Bench delivery",
      type: "shipping",
      service_zones: [{ name: "India", geo_zones: [{ country_code: "in", type: "country" }] }],
    })
    await link.create({
      [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
      [Modules.FULFILLMENT]: { fulfillment_set_id: set.id },
    })
    await createShippingOptionsWorkflow(container).run({
      input: [{
        name: "Standard",
        price_type: "flat",
        provider_id: "manual_manual",
        service_zone_id: set.service_zones[0].id,
        shipping_profile_id: profile.id,
        type: { label: "Standard", description: "Flat rate", code: "standard" },
        prices: [{ currency_code: "inr", amount: 99 }, { region_id: region.id, amount: 99 }],
        rules: [
          { attribute: "enabled_in_store", value: "true", operator: "eq" },
          { attribute: "is_return", value: "false", operator: "eq" },
        ],
      }],
    })

    const { result: [key] } = await createApiKeysWorkflow(container).run({
      input: { api_keys: [{ title: "Bench storefront", type: "publishable", created_by: "" }] },
    })
    await linkSalesChannelsToApiKeyWorkflow(container).run({ input: { id: key.id, add: [channel.id] } })

    await createProductsWorkflow(container).run({
      input: {
        products: [{
          title: "Bench course",
          handle: "bench-course",
          status: ProductStatus.PUBLISHED,
          shipping_profile_id: profile.id,
          options: [{ title: "Seat", values: ["Standard"] }],
          variants: [{
            title: "Standard",
            sku: "BENCH-COURSE",
            options: { Seat: "Standard" },
            manage_inventory: false,
            prices: [{ amount: 4999, currency_code: "inr" }],
          }],
          sales_channels: [{ id: channel.id }],
        }],
      },
    })
  }

  // what the driver needs, looked up the same way on every run
  const { data: [region] } = await query.graph({ entity: "region", fields: ["id"], filters: { name: REGION } })
  const { data: keys } = await query.graph({
    entity: "api_key", fields: ["token", "revoked_at"], filters: { title: "Bench storefront", type: "publishable" },
  })
  const { data: [variant] } = await query.graph({ entity: "product_variant", fields: ["id"], filters: { sku: "BENCH-COURSE" } })
  const out = {
    region_id: region.id,
    publishable_key: keys.find((k: any) => !k.revoked_at)!.token,
    variant_id: variant.id,
  }
  const path = process.env.SEED_OUT || "seed.json"
  writeFileSync(path, JSON.stringify(out, null, 2) + "\n")
  logger.info(`bench store ready: ${path}`)
}
