#!/usr/bin/env python3
"""Bootstrap a freshly initialised Tryton 8.2 database for Stockbridge.

Runs inside the Tryton venv with trytond's own Python API (no server needed):

    $VENV/bin/python infra/erp/bootstrap.py --config STATE/trytond.conf \
        --database stockbridge --catalogue infra/erp/sample-catalogue.csv \
        --env-file STATE/erp.env --port 8000

Creates: currency USD, company "Stockbridge Demo" (admin attached), manual
invoice methods for sale/purchase, a second warehouse STORE, the products of
the catalogue, parties "Demo supplier" and "Shopify customers" (code
SHOPIFY-CUSTOMERS, exported as TRYTON_SALE_PARTY; with an address each; sales
ship on order), and an integration user
`stockbridge` with a validated REST key. Writes the key, URL and ids to the
env file (KEY=value lines, shell- and dotenv-compatible).
"""
import argparse
import csv
import datetime as dt
import sys
from decimal import Decimal


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--config', required=True)
    parser.add_argument('--database', default='stockbridge')
    parser.add_argument('--catalogue', required=True)
    parser.add_argument('--env-file', required=True)
    parser.add_argument('--port', default='8000')
    parser.add_argument('--list-price', default='20.00')
    parser.add_argument('--cost-price', default='8.00')
    args = parser.parse_args()

    with open(args.catalogue, newline='') as f:
        rows = list(csv.DictReader(f))
    for n, row in enumerate(rows, 2):
        if not row.get('erp_item_code') or not row.get('name'):
            sys.exit(f'{args.catalogue}:{n}: erp_item_code and name required')
        if (row.get('uom') or 'u') != 'u':
            sys.exit(f'{args.catalogue}:{n}: only uom "u" is supported')

    from trytond import config
    config.update_etc(args.config)
    from trytond.pool import Pool
    from trytond.transaction import Transaction, TransactionError

    dbname = args.database
    Pool.start()
    pool = Pool(dbname)
    with Transaction().start(dbname, 0, readonly=True):
        pool.init()

    # Same retry loop as trytond-admin: creating singletons (sale/purchase
    # configuration) needs a table lock, which SQLite transactions only get
    # when declared at start (_lock_tables), signalled by a TransactionError.
    extras = {}
    while True:
        with Transaction().start(dbname, 0, context={}, **extras) as tx:
            try:
                env = populate(pool, tx, args, rows, dbname)
            except TransactionError as e:
                tx.rollback()
                e.fix(extras)
                continue
            tx.commit()
            break

    with open(args.env_file, 'w') as f:
        for key, value in env.items():
            f.write(f'{key}={value}\n')
    print(f'bootstrap: wrote {args.env_file}', file=sys.stderr)


# Code of the generic "Shopify customers" party the sales adapter sells to.
SALE_PARTY_CODE = 'SHOPIFY-CUSTOMERS'


def populate(pool, transaction, args, rows, dbname):
    from trytond.transaction import Transaction
    env = {}
    if True:
        ModelData = pool.get('ir.model.data')
        Currency = pool.get('currency.currency')
        Rate = pool.get('currency.currency.rate')
        Party = pool.get('party.party')
        Company = pool.get('company.company')
        User = pool.get('res.user')
        Group = pool.get('res.group')
        UserApplication = pool.get('res.user.application')
        Location = pool.get('stock.location')
        Uom = pool.get('product.uom')
        Template = pool.get('product.template')
        Product = pool.get('product.product')
        SaleConfig = pool.get('sale.configuration')
        PurchaseConfig = pool.get('purchase.configuration')

        def ref(module, fs_id):
            return ModelData.get_id(module, fs_id)

        usd, = Currency.create([{
                    'name': 'U.S. Dollar', 'code': 'USD', 'symbol': '$',
                    'numeric_code': '840', 'digits': 2,
                    'rounding': Decimal('0.01')}])
        Rate.create([{'currency': usd.id, 'date': dt.date(2000, 1, 1),
                    'rate': Decimal(1)}])
        address = [('create', [{
                        'street': '1 Demo Street', 'city': 'Springfield'}])]
        company_party, supplier, customer = Party.create([
                {'name': 'Stockbridge Demo', 'addresses': address},
                {'name': 'Demo supplier', 'addresses': address},
                # The one generic party of every Shopify sale (sale.sale and
                # its stock.shipment.out): no customer's own data is kept.
                # Its code is TRYTON_SALE_PARTY.
                {'name': 'Shopify customers', 'code': SALE_PARTY_CODE,
                    'addresses': address}])
        company, = Company.create([{
                    'party': company_party.id, 'currency': usd.id}])

        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {
                'companies': [('add', [company.id])],
                'company': company.id})

        with Transaction().set_context(company=company.id):
            # Sales: no invoice (Stockbridge sends no prices), and the
            # confirmed sale's processing creates its customer shipment.
            SaleConfig.write([SaleConfig(1)],
                {'sale_invoice_method': 'manual',
                    'sale_shipment_method': 'order'})
            PurchaseConfig.write([PurchaseConfig(1)],
                {'purchase_invoice_method': 'manual'})

        # 'Stock Force Assignment' lets the integration call assign_force on
        # shipments whose source storage has too little stock. 'Sales
        # Administrator' lets it press a sale's "process" and mark the moves
        # of a cancelled customer shipment ignored (cancelling a confirmed
        # sale that shipped nothing).
        group_names = ['Stock', 'Stock Force Assignment',
            'Product Administration', 'Purchase', 'Sales',
            'Sales Administrator']
        groups = Group.search([('name', 'in', group_names)])
        missing = set(group_names) - {g.name for g in groups}
        if missing:
            sys.exit(f'missing groups: {missing}')
        integration, = User.create([{
                    'name': 'Stockbridge integration',
                    'login': 'stockbridge',
                    'groups': [('add', [g.id for g in groups])],
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    }])
        application, = UserApplication.create([{
                    'user': integration.id, 'application': 'rest',
                    'state': 'validated'}])

        # Default warehouse (from stock module data)
        wh = Location(ref('stock', 'location_warehouse'))
        lost_found = Location(ref('stock', 'location_lost_found'))
        supplier_loc = Location(ref('stock', 'location_supplier'))
        customer_loc = Location(ref('stock', 'location_customer'))
        # Second warehouse STORE with its own zones
        s_in, s_out, s_sto = Location.create([
                {'name': 'STORE Input', 'code': 'STORE-IN', 'type': 'storage'},
                {'name': 'STORE Output', 'code': 'STORE-OUT',
                    'type': 'storage'},
                {'name': 'STORE Storage', 'code': 'STORE-STO',
                    'type': 'storage'},
                ])
        store, = Location.create([{
                    'name': 'Store', 'code': 'STORE', 'type': 'warehouse',
                    'input_location': s_in.id,
                    'output_location': s_out.id,
                    'storage_location': s_sto.id,
                    'lost_found_location': lost_found.id,
                    }])
        Location.write([s_in, s_out, s_sto], {'parent': store.id})

        unit = Uom(ref('product', 'uom_unit'))
        with Transaction().set_context(company=company.id):
            templates = Template.create([{
                        'name': row['name'],
                        'code': row['erp_item_code'],
                        'type': 'goods',
                        'default_uom': unit.id,
                        'salable': True, 'sale_uom': unit.id,
                        'purchasable': True, 'purchase_uom': unit.id,
                        'list_price': Decimal(args.list_price),
                        'products': [('create', [{
                                        'cost_price': Decimal(
                                            args.cost_price)}])],
                        } for row in rows])
            products = [p for t in templates for p in t.products]
        for row, product in zip(rows, products):
            assert product.code == row['erp_item_code'], (
                product.code, row['erp_item_code'])

        env.update({
                'TRYTON_URL': f'http://127.0.0.1:{args.port}/{dbname}',
                'TRYTON_API_KEY': application.key,
                'TRYTON_COMPANY_ID': company.id,
                'TRYTON_CURRENCY_ID': usd.id,
                'TRYTON_UNIT_ID': unit.id,
                'TRYTON_USER_ID': integration.id,
                'TRYTON_SUPPLIER_PARTY_ID': supplier.id,
                'TRYTON_SUPPLIER_ADDRESS_ID': supplier.addresses[0].id,
                'TRYTON_CUSTOMER_PARTY_ID': customer.id,
                'TRYTON_CUSTOMER_ADDRESS_ID': customer.addresses[0].id,
                'TRYTON_SALE_PARTY': customer.code,
                'TRYTON_LOC_SUPPLIER_ID': supplier_loc.id,
                'TRYTON_LOC_CUSTOMER_ID': customer_loc.id,
                'TRYTON_LOC_LOST_FOUND_ID': lost_found.id,
                'TRYTON_WH_WH_ID': wh.id,
                'TRYTON_WH_WH_STORAGE_ID': wh.storage_location.id,
                'TRYTON_WH_WH_OUTPUT_ID': wh.output_location.id,
                'TRYTON_WH_STORE_ID': store.id,
                'TRYTON_WH_STORE_STORAGE_ID': s_sto.id,
                'TRYTON_WH_STORE_OUTPUT_ID': s_out.id,
                })
        for product in products:
            key = product.code.upper().replace('-', '_')
            env[f'TRYTON_PRODUCT_{key}_ID'] = product.id
    return env


if __name__ == '__main__':
    main()
